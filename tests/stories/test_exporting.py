"""`manage.py export_tests` and `stories.exporting`: .feature files, JSON and CSV exports of saved test cases."""

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from gherkin.parser import Parser
from gherkin.token_scanner import TokenScanner

from stories import exporting
from stories.models import Scenario
from tests import factories


def export(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("export_tests", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def parse(text: str) -> dict:
    """The document gherkin-official makes of a .feature text (raises on invalid Gherkin)."""
    return Parser().parse(TokenScanner(text))


@pytest.fixture
def suite(story):
    """SHOP-12 with two test cases (two scenarios, one), a second story in another project with one."""
    first = factories.make_test_case(story, scenarios=2, title="Add to cart", test_type="UI")
    second = factories.make_test_case(story, scenarios=1, title="Cart limits")
    other = factories.make_story(project=factories.make_project(key="BANK"), key="BANK-1", title="Log in")
    third = factories.make_test_case(other, scenarios=1, title="Log in with a code")
    return first, second, third


def test_feature_files_one_per_test_case_in_a_directory_per_story(suite, tmp_path):
    _, err = export("--output", str(tmp_path / "out"))

    files = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.feature"))
    assert files == ["BANK-1/log-in-with-a-code.feature", "SHOP-12/add-to-cart.feature", "SHOP-12/cart-limits.feature"]
    assert "Wrote 3 .feature files" in err
    for path in (tmp_path / "out").rglob("*.feature"):
        document = parse(path.read_text(encoding="utf-8"))  # gherkin-official accepts every exported file
        assert document["feature"]["children"]
    add = parse((tmp_path / "out" / "SHOP-12" / "add-to-cart.feature").read_text(encoding="utf-8"))["feature"]
    assert add["name"] == "Add to cart"
    assert [t["name"] for t in add["tags"]] == ["@ui", "@SHOP-12"]
    assert [c["scenario"]["name"] for c in add["children"]] == ["Scenario 1", "Scenario 2"]
    assert [s["text"] for s in add["children"][0]["scenario"]["steps"]] == [
        "a signed-in shopper",
        "they add an item to the cart",
        "the cart shows 1 item",
    ]


def test_same_titles_get_distinct_file_names_and_outlines_parse(story, tmp_path):
    factories.make_test_case(story, title="Checkout")
    outline = factories.make_test_case(story, scenarios=0, title="Checkout")
    Scenario.objects.create(
        test_case=outline,
        name="Quantity limits",
        steps="Given a product\nWhen I set the quantity to <n>\nThen it is <result>\n"
        "Examples:\n| n | result |\n| 1 | accepted |\n| 11 | refused |",
    )

    export("SHOP-12", "--output", str(tmp_path))

    assert sorted(p.name for p in (tmp_path / "SHOP-12").iterdir()) == ["checkout-2.feature", "checkout.feature"]
    document = parse((tmp_path / "SHOP-12" / "checkout-2.feature").read_text(encoding="utf-8"))
    scenario = document["feature"]["children"][0]["scenario"]
    assert scenario["keyword"] == "Scenario Outline"
    assert len(scenario["examples"][0]["tableBody"]) == 2


def test_features_to_stdout_are_headed_by_their_path(suite):
    out, _ = export("SHOP-12")

    chunks = out.split("# ")[1:]
    assert [chunk.splitlines()[0] for chunk in chunks] == ["SHOP-12/add-to-cart.feature", "SHOP-12/cart-limits.feature"]
    for chunk in chunks:
        parse("# " + chunk)
    assert "BANK-1" not in out


def test_json_lists_stories_with_test_cases_and_scenarios(suite):
    out, _ = export("--format", "json")

    data = json.loads(out)
    assert [story["key"] for story in data] == ["BANK-1", "SHOP-12"]
    shop = data[1]
    assert shop["project"] == "SHOP" and shop["title"] == "Add items to the cart"
    assert [tc["title"] for tc in shop["test_cases"]] == ["Add to cart", "Cart limits"]
    assert shop["test_cases"][0]["test_type"] == "UI"
    assert shop["test_cases"][0]["scenarios"][0] == {
        "name": "Scenario 1",
        "tags": ["@smoke"],
        "steps": ["Given a signed-in shopper", "When they add an item to the cart", "Then the cart shows 1 item"],
    }


def test_csv_has_one_row_per_scenario(suite, tmp_path):
    first, second, third = suite
    factories.make_test_case(third.story, scenarios=0, title="No scenarios yet")

    _, err = export("--format", "csv", "--output", str(tmp_path / "export.csv"))

    with open(tmp_path / "export.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert "to " + str(tmp_path / "export.csv") in err
    assert [(r["story_key"], r["test_case_title"], r["scenario_name"]) for r in rows] == [
        ("BANK-1", "Log in with a code", "Scenario 1"),
        ("BANK-1", "No scenarios yet", ""),
        ("SHOP-12", "Add to cart", "Scenario 1"),
        ("SHOP-12", "Add to cart", "Scenario 2"),
        ("SHOP-12", "Cart limits", "Scenario 1"),
    ]
    assert (
        rows[2]["steps"] == "Given a signed-in shopper\nWhen they add an item to the cart\nThen the cart shows 1 item"
    )
    assert rows[2]["tags"] == "@smoke" and rows[2]["project"] == "SHOP" and rows[2]["test_case_id"] == str(first.pk)


def test_json_into_a_directory_and_project_filter(suite, tmp_path):
    export("--project", "BANK", "--format", "json", "--output", str(tmp_path))

    data = json.loads((tmp_path / "test-cases.json").read_text(encoding="utf-8"))
    assert [story["key"] for story in data] == ["BANK-1"]


def test_unknown_story_project_or_format_is_a_command_error(suite):
    with pytest.raises(CommandError, match=r"No story with key SHOP-99, NOPE-1\."):
        export("SHOP-12", "SHOP-99", "NOPE-1")
    with pytest.raises(CommandError, match=r'No project with key "NOPE" \(projects: BANK, SHOP\)\.'):
        export("--project", "NOPE")
    with pytest.raises(CommandError, match=r"No story with key SHOP-12 in project BANK\."):
        export("SHOP-12", "--project", "BANK")
    with pytest.raises(CommandError, match=r'Unknown format "xml" \(use feature, json, csv\)\.'):
        export("--format", "xml")


def test_feature_export_refuses_a_file_as_output(suite, tmp_path):
    target = tmp_path / "one.feature"
    target.write_text("", encoding="utf-8")
    with pytest.raises(CommandError, match="needs a directory"):
        export("--output", str(target))


def test_nothing_to_export_says_so(story):
    out, err = export("SHOP-12")
    assert out == ""
    assert "SHOP-12 has no saved test cases." in err and "Nothing to export" in err


def test_queries_do_not_grow_with_the_number_of_test_cases(db):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            export("--format", "json")
            export("--format", "csv")
            export()
        return len(queries)

    story = factories.make_story()
    factories.make_test_case(story, scenarios=1)
    few = count_queries()
    for _ in range(4):
        story = factories.make_story()
        for _ in range(3):
            factories.make_test_case(story, scenarios=3)
    assert count_queries() == few


def test_select_stories_prefetches_everything(suite):
    stories = exporting.select_stories()
    with CaptureQueriesContext(connection) as queries:
        texts = [tc.feature_text() for story in stories for tc in story.test_cases.all()]
        exporting.stories_as_data(stories)
    assert len(texts) == 3
    assert len(queries) == 0
