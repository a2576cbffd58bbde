"""Tracker text to clean text: the fast Jira reader agrees with jira2markdown (the library) on real-shaped cells,
and HTML and Markdown become blocks, criteria and descriptions without markup."""

import csv
from pathlib import Path

import pytest

from stories.importing import text

EXPORTS = Path(__file__).parent / "exports"


def library_blocks(cell: str) -> list[text.Block]:
    cell = cell.replace("\r\n", "\n").strip()
    return text._html_blocks(text._markdown_html(text._jira_markdown(cell)), keep_newlines=True)


def jira_cells() -> list[str]:
    cells = []
    for name in ("jira-cloud.csv", "jira-work-items.csv"):
        with open(EXPORTS / name, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.reader(f))
        header = rows[0]
        wanted = [i for i, h in enumerate(header) if h in ("Description", "Custom field (Acceptance Criteria)")]
        cells += [row[i] for row in rows[1:] for i in wanted if text._has_jira_markup(row[i])]
    return cells


@pytest.mark.parametrize("cell", jira_cells())
def test_the_fast_jira_reader_gives_what_jira2markdown_gives(cell):
    fast = text.jira_blocks(cell.replace("\r\n", "\n").strip())
    assert fast is not None
    assert text.description(fast) == text.description(library_blocks(cell))
    assert text.criteria(fast) == text.criteria(library_blocks(cell))


def test_constructs_outside_the_subset_go_to_jira2markdown():
    cell = "{panel:title=Note}Check the *cart*{panel}\n* one"
    assert text.jira_blocks(cell) is None
    assert text.description(text.blocks(cell, "jira")) == text.description(library_blocks(cell))


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (
            "h3. Acceptance criteria\n# Given a cart\nWhen I pay\nThen it is paid\n# Total has *VAT*",
            ["Given a cart\nWhen I pay\nThen it is paid", "Total has VAT"],
        ),
        (
            "* Uses {{CartSummary}}\n** nested _detail_\n* See [design|https://x.example/d]",
            ["Uses CartSummary", "nested detail", "See design (https://x.example/d)"],
        ),
        ("||Device||OK||\n|Mobile|yes|", ["Device | OK", "Mobile | yes"]),  # a row a line
        ("{noformat}\nGET /api/cart\n{noformat}", ["GET /api/cart"]),
        ("Price is 5&nbsp;EUR", ["Price is 5 EUR"]),
    ],
)
def test_jira_cells_become_criteria(cell, expected):
    assert text.criteria(text.blocks(cell, "jira")) == expected


def test_html_lists_and_divs():
    html = "<div>Given a</div><div>When b</div><div>Then c</div><div><br></div><ul><li>One&nbsp;<b>x</b></li></ul>"
    assert text.criteria(text.blocks(html, "html")) == ["Given a\nWhen b\nThen c", "One x"]


def test_markdown_checklists_under_a_heading():
    body = "Intro\n\n## Acceptance criteria\n- [ ] First\n- [x] Second\n\n## Notes\nmore"
    outside, inside = text.split_sections(text.blocks(body, "markdown"))
    assert text.criteria(inside) == ["First", "Second"]
    assert text.description(outside) == "Intro\n\nNotes\n\nmore"
