"""Export saved test cases for the places tests are run and tracked: a Cucumber repository, Xray, TestRail.

One function per format, each taking a queryset of stories (whatever the caller may see) and yielding chunks, so a
project with thousands of test cases starts downloading at once and is never held whole in memory:

- `feature_files()` / `feature_zip()` — one `.feature` per test case at `<STORY-KEY>/tc-<id>-<slug>.feature`.
  One file per test case (not per story) because that is how Cucumber repositories are usually laid out — a Feature
  is one capability with its scenarios, and a QAForge test case is exactly that — and it keeps a file's diff to the
  test case that changed. Tags: `@<STORY-KEY>` (Xray links the tests to that requirement), `@tc-<id>`, the test type
  and `@priority-<p>` on the Feature; `@sc-<id>` and the scenario's own tags on each Scenario. Preconditions become a
  `Background:` when they are steps, else a line of the Feature's description. `stories.importing_tests` reads the
  ids back, so editing the files and importing them updates, never duplicates.
- `xray_csv()` — the Xray Test Case Importer's CSV for Cucumber tests, one row (one Xray Test) per scenario.
  Followed: Xray Cloud documentation "Importing Tests using Test Case Importer" (docs.getxray.app, XRAYCLOUD space,
  2024–2025 revisions) and the Xray Server 6.x/7.x pages of the same name: any column names are allowed because they
  are mapped in the wizard, but three must be mapped — `Test ID` (groups the lines of one test; unique per test
  here: `sc-<scenario id>`), `Summary` and `Test Type` (must be a test type of the project: `Cucumber`). The others
  are mapped to Cucumber Test Type (`Scenario` or `Scenario Outline`: Xray Server/Data Center's field of that name,
  which decides the keyword Xray writes when it exports the test), Gherkin Definition (the scenario's steps, no
  `Scenario:` line; an outline's `Examples:` table included, as Xray keeps it), Priority (Jira's default names),
  Labels (one `Labels` column per label, as Jira's CSV import takes multi-value fields; no `@`), the requirement link
  (issue link "Tests" to the story key) and the Test Repository folder (`Repository Path` = `PROJECT/STORY-KEY`).
  Summary is the scenario name because that is what Xray matches on when it later imports the same scenario from a
  `.feature` file or a Cucumber result.
- `testrail_csv()` — TestRail's CSV import (TestRail 7.x/8.x user guide "Importing test cases from CSV", single-row
  layout: one row per case, mapped in the import wizard) for its default templates "Test Case (Steps)" and
  "Behaviour Driven Development" (support article "Test case templates"). One case per scenario: `Title`,
  `Section` (story key and title), `Template`, `Type` (TestRail's default case types), `Priority` (TestRail's four
  default priorities: Highest → Critical, High → High, Medium → Medium, Low and Lowest → Low, because TestRail has no
  fifth level below Low), `References` (story key), `Preconditions` (the test case's preconditions and the
  scenario's Given steps), `Steps` (the When steps, numbered; an outline's Examples table follows them, since the
  Steps template has no data-driven runs of its own) and `Expected Result` (the Then steps) for the Steps
  template, and `BDD Scenario` (the whole scenario in Gherkin, `Scenario Outline:` with its `Examples:` for an
  outline, which TestRail's BDD field runs as Gherkin does) for the BDD template. The `template` argument picks
  the value of the Template column; both templates' columns are always filled so one file serves either mapping.
- `json_export()` — everything, with ids, re-importable by `import_tests`; `generic_csv()` — one row per scenario.

Every CSV cell that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or carriage return)
is prefixed with `'` (OWASP "CSV Injection"); `excel=True` writes a UTF-8 byte-order mark first so Excel reads
accents and dashes right. Exports are deterministic: stories in natural key order (SHOP-2 before SHOP-10), test
cases by id, scenarios by position, fixed zip timestamps — the same data gives a byte-identical file.
"""

from __future__ import annotations

import csv
import io
import json
import re
import textwrap
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, QuerySet
from stream_zip import ZIP_32, stream_zip

from stories import gherkin
from stories.keys import normalise_key
from stories.models import Priority, Project, Scenario, TestCase, TestType, UserStory

BOM = "\ufeff"
BATCH_STORIES = 50  # stories fetched (with their test cases and scenarios) per query round while streaming
ZIP_TIMESTAMP = datetime(2000, 1, 1)  # every zip member gets it, so the same data makes the same bytes

XRAY_COLUMNS = (
    "Test ID",
    "Summary",
    "Description",
    "Test Type",
    "Cucumber Test Type",
    "Gherkin Definition",
    "Priority",
)
XRAY_LINK_COLUMNS = ("Requirement", "Repository Path")
XRAY_PRIORITY = {
    Priority.HIGHEST: "Highest",
    Priority.HIGH: "High",
    Priority.MEDIUM: "Medium",
    Priority.LOW: "Low",
    Priority.LOWEST: "Lowest",
}

TESTRAIL_COLUMNS = (
    "Title",
    "Section",
    "Template",
    "Type",
    "Priority",
    "References",
    "Preconditions",
    "Steps",
    "Expected Result",
    "BDD Scenario",
)
TESTRAIL_TEMPLATES = {"steps": "Test Case (Steps)", "bdd": "Behaviour Driven Development"}
TESTRAIL_PRIORITY = {
    Priority.HIGHEST: "Critical",
    Priority.HIGH: "High",
    Priority.MEDIUM: "Medium",
    Priority.LOW: "Low",
    Priority.LOWEST: "Low",
}
TESTRAIL_TYPE = {
    TestType.FUNCTIONAL: "Functional",
    TestType.UI: "Usability",
    TestType.API: "Functional",
    TestType.INTEGRATION: "Functional",
    TestType.SECURITY: "Security",
    TestType.PERFORMANCE: "Performance",
    TestType.ACCESSIBILITY: "Accessibility",
    TestType.REGRESSION: "Regression",
}

CSV_COLUMNS = (
    "story_key",
    "story_title",
    "project",
    "test_case_id",
    "test_case_title",
    "test_type",
    "priority",
    "status",
    "objective",
    "preconditions",
    "scenario_id",
    "scenario_position",
    "scenario_name",
    "tags",
    "steps",
)


class ExportError(Exception):
    """The export cannot run as asked (unknown story or project, nothing selected); the message says why."""


# --- Selection ----------------------------------------------------------------------------------------------------


def _ordered_ids(stories: QuerySet[UserStory]) -> list[int]:
    return list(stories.natural_order().values_list("pk", flat=True))


def select_stories(keys: Sequence[str] = (), project_key: str | None = None, all: bool = False) -> QuerySet:
    """The stories named by keys and/or a project (or all of them), as a queryset; raises ExportError for unknown
    keys or projects and when nothing was named."""
    stories = UserStory.objects.all()
    if not keys and not project_key and not all:
        raise ExportError("Name at least one story key, or use --project KEY or --all.")
    if project_key:
        if not Project.objects.filter(key=project_key).exists():
            known = ", ".join(Project.objects.values_list("key", flat=True)[:20]) or "none yet"
            raise ExportError(f'No project with key "{project_key}" (projects: {known}).')
        stories = stories.filter(project__key=project_key)
    if keys:
        keys = list(dict.fromkeys(normalise_key(key) for key in keys))
        found = set(stories.filter(key__in=keys).values_list("key", flat=True))
        missing = [key for key in keys if key not in found]
        if missing:
            where = f" in project {project_key}" if project_key else ""
            raise ExportError(f"No story with key {', '.join(missing)}{where}.")
        stories = stories.filter(key__in=keys)
    return stories


def iter_stories(stories: QuerySet[UserStory]) -> Iterator[UserStory]:
    """The stories in natural key order with project, test cases and scenarios prefetched, a batch at a time."""
    ids = _ordered_ids(stories)
    test_cases = TestCase.objects.order_by("id").prefetch_related(
        Prefetch("scenarios", queryset=Scenario.objects.order_by("position", "id"))
    )
    for start in range(0, len(ids), BATCH_STORIES):
        batch = ids[start : start + BATCH_STORIES]
        fetched = UserStory.objects.select_related("project").prefetch_related(
            Prefetch("test_cases", queryset=test_cases)
        )
        by_id = fetched.in_bulk(batch)
        for pk in batch:
            if pk in by_id:
                yield by_id[pk]


def iter_test_cases(stories: QuerySet[UserStory]) -> Iterator[TestCase]:
    for story in iter_stories(stories):
        for test_case in story.test_cases.all():
            test_case.story = story  # already loaded: no query per test case for its story
            yield test_case


def count_test_cases(stories: QuerySet[UserStory]) -> int:
    return TestCase.objects.filter(story__in=stories.order_by().values("pk")).count()


def nothing_to_export(stories: QuerySet[UserStory], keys: Sequence[str] = ()) -> str:
    """Why a selection without saved test cases exports nothing, naming the jobs that are still waiting for review
    (the usual reason: generated, never saved)."""
    from generation.models import GenerationJob, JobStatus  # generation depends on stories, not the reverse

    named = f" for {', '.join(keys)}" if keys else ""
    reason = f"Nothing to export: no saved test cases{named}."
    waiting = list(
        GenerationJob.objects.filter(story__in=stories.order_by().values("pk"), status=JobStatus.READY)
        .order_by("queued_at")
        .values_list("story__key", "pk")
    )
    if waiting:
        names = ", ".join(f"{key} (job {str(pk)[:8]})" for key, pk in waiting)
        jobs = "1 job is" if len(waiting) == 1 else f"{len(waiting)} jobs are"
        reason += (
            f" {jobs} still waiting for review: {names}. Save them in the browser or with "
            "`manage.py review_jobs --save KEY …`."
        )
    return reason


# --- Cucumber -----------------------------------------------------------------------------------------------------


def feature_files(stories: QuerySet[UserStory]) -> Iterator[tuple[str, str]]:
    """(relative path, text) of every test case's `.feature` file."""
    for test_case in iter_test_cases(stories):
        yield test_case.feature_path(), test_case.feature_text()


def feature_zip(stories: QuerySet[UserStory]) -> Iterator[bytes]:
    """The `.feature` files as a zip archive, streamed (a member is built when the zip reaches it)."""
    members = ((path, ZIP_TIMESTAMP, 0o644, ZIP_32, (text.encode("utf-8"),)) for path, text in feature_files(stories))
    return stream_zip(members, extended_timestamps=False)


# --- CSV ----------------------------------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """A cell a spreadsheet shows as text: formula-like starts are prefixed with `'` (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv_lines(header: Sequence[str], rows: Iterable[Sequence], excel: bool) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180 line ends: what Excel, Jira and TestRail expect

    def line(cells) -> str:
        writer.writerow([safe_cell(cell) for cell in cells])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield (BOM if excel else "") + line(header)
    for row in rows:
        yield line(row)


def _scenario_rows(stories: QuerySet[UserStory]) -> Iterator[tuple[TestCase, Scenario]]:
    for test_case in iter_test_cases(stories):
        for scenario in test_case.scenarios.all():
            yield test_case, scenario


def _repository_path(story: UserStory) -> str:
    return f"{story.project.key}/{story.key}" if story.project else story.key


def xray_csv(stories: QuerySet[UserStory], excel: bool = False) -> Iterator[str]:
    """Xray Test Case Importer CSV: one Cucumber Test per scenario (see the module docstring for the columns)."""
    # As many Labels columns as the most labelled test needs (+1 for the test type), read from the tags alone.
    tags = Scenario.objects.filter(test_case__story__in=stories.order_by().values("pk")).values_list("tags", flat=True)
    labels_wide = max((len(t) for t in tags.iterator()), default=0) + 1
    header = (*XRAY_COLUMNS, *(["Labels"] * labels_wide), *XRAY_LINK_COLUMNS)

    def rows():
        for test_case, scenario in _scenario_rows(stories):
            labels = _xray_labels(test_case, scenario)
            description = "\n".join(
                part
                for part in (
                    f"Test case: {test_case.title}",
                    test_case.objective,
                    f"Preconditions: {test_case.preconditions}" if test_case.preconditions else "",
                )
                if part
            )
            yield (
                scenario.id_tag[1:],
                scenario.name[:255],
                description,
                "Cucumber",
                gherkin.scenario_keyword(scenario.steps),
                _indented(scenario.steps),
                XRAY_PRIORITY[test_case.priority],
                *labels,
                *([""] * (len(header) - len(XRAY_COLUMNS) - len(XRAY_LINK_COLUMNS) - len(labels))),
                test_case.story.key,
                _repository_path(test_case.story),
            )

    return _csv_lines(header, rows(), excel)


def _xray_labels(test_case: TestCase, scenario: Scenario) -> list[str]:
    # Jira labels cannot hold spaces; tags cannot either. The test type travels as a label too.
    labels = [tag.lstrip("@") for tag in scenario.tags]
    test_type = test_case.test_type.lower()
    return labels if test_type in labels else [*labels, test_type]


def _indented(steps: str) -> str:
    """Steps with their tables indented under their step or `Examples:` line, as a .feature file has them."""
    return "\n".join(" " * extra + line for extra, line in gherkin.indented_steps(steps))


def _examples(steps: str) -> tuple[str, str]:
    """(the steps, the `Examples:` part) of a scenario; the second is empty for a plain scenario."""
    match = re.search(r"^(?:Examples|Scenarios):", steps, re.MULTILINE)
    return (steps, "") if match is None else (steps[: match.start()].rstrip("\n"), steps[match.start() :])


_OUTCOME_RE = re.compile(r"^Then\s")
_ACTION_RE = re.compile(r"^When\s")


def split_steps(steps: str) -> tuple[list[str], list[str], list[str]]:
    """A scenario's steps as (Given…, When…, Then…) lines; And/But/tables/Examples follow the step before them."""
    parts: tuple[list[str], list[str], list[str]] = ([], [], [])
    current = 0
    for line in steps.split("\n"):
        if _ACTION_RE.match(line):
            current = 1
        elif _OUTCOME_RE.match(line):
            current = 2
        parts[current].append(line)
    return parts


def testrail_csv(stories: QuerySet[UserStory], excel: bool = False, template: str = "steps") -> Iterator[str]:
    """TestRail CSV import, one case per scenario, for the Steps or BDD template (see the module docstring)."""
    if template not in TESTRAIL_TEMPLATES:
        raise ExportError(f'Unknown TestRail template "{template}" (use {", ".join(TESTRAIL_TEMPLATES)}).')

    def rows():
        for test_case, scenario in _scenario_rows(stories):
            story = test_case.story
            steps, examples = _examples(scenario.steps)
            given, when, then = split_steps(steps)
            preconditions = "\n".join(part for part in (test_case.preconditions.strip(), "\n".join(given)) if part)
            numbered = "\n".join(f"{n}. {line}" for n, line in enumerate(when, 1))
            if examples:
                numbered += (
                    "\n\nRun the steps once per row of the Examples, with its values in place of the <placeholders>:\n"
                )
                numbered += _indented(examples)
            yield (
                scenario.name,
                f"{story.key} {story.title}",
                TESTRAIL_TEMPLATES[template],
                TESTRAIL_TYPE[test_case.test_type],
                TESTRAIL_PRIORITY[test_case.priority],
                story.key,
                preconditions,
                numbered,
                "\n".join(then),
                gherkin.scenario_block(gherkin.ScenarioText(scenario.name, scenario.steps), indent=""),
            )

    return _csv_lines(TESTRAIL_COLUMNS, rows(), excel)


def generic_csv(stories: QuerySet[UserStory], excel: bool = False) -> Iterator[str]:
    """QAForge's own CSV: one row per scenario (a test case without scenarios still gets a row)."""

    def rows():
        for test_case in iter_test_cases(stories):
            story = test_case.story
            base = [
                story.key,
                story.title,
                story.project.key if story.project else "",
                test_case.pk,
                test_case.title,
                test_case.test_type,
                test_case.priority,
                test_case.status,
                test_case.objective,
                test_case.preconditions,
            ]
            scenarios = list(test_case.scenarios.all())
            if not scenarios:
                yield [*base, "", "", "", "", ""]
            for scenario in scenarios:
                tags = " ".join(tag.lstrip("@") for tag in scenario.tags)  # no "@": a spreadsheet would read a formula
                yield [*base, scenario.pk, scenario.position, scenario.name, tags, scenario.steps]

    return _csv_lines(CSV_COLUMNS, rows(), excel)


# --- JSON ---------------------------------------------------------------------------------------------------------


def story_data(story: UserStory) -> dict:
    """One story with its test cases and scenarios as plain data (the JSON export's unit; `import_tests` reads it)."""
    return {
        "key": story.key,
        "title": story.title,
        "project": story.project.key if story.project else None,
        "url": story.external_url,
        "test_cases": [
            {
                "id": test_case.pk,
                "title": test_case.title,
                "objective": test_case.objective,
                "preconditions": test_case.preconditions,
                "test_type": test_case.test_type,
                "priority": test_case.priority,
                "status": test_case.status,
                "scenarios": [
                    {
                        "id": scenario.pk,
                        "name": scenario.name,
                        "tags": list(scenario.tags),
                        "steps": scenario.steps.split("\n"),
                        "criteria": list(scenario.criteria),
                    }
                    for scenario in test_case.scenarios.all()
                ],
            }
            for test_case in story.test_cases.all()
        ],
    }


def json_export(stories: QuerySet[UserStory]) -> Iterator[str]:
    """A JSON list of stories, written one story at a time; the same text `json.dumps(list, indent=2)` would give."""
    first = True
    for story in iter_stories(stories):
        if not story.test_cases.all():
            continue
        item = textwrap.indent(json.dumps(story_data(story), indent=2, ensure_ascii=False), "  ")
        yield ("[\n" if first else ",\n") + item
        first = False
    yield "[]\n" if first else "\n]\n"


# --- Registry -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportFormat:
    name: str
    label: str
    hint: str  # where the file goes, for the export dialog
    filename: str  # download / default file name
    content_type: str
    binary: bool  # yields bytes (zip) rather than text
    write: Callable[..., Iterator]
    takes_excel: bool = False


FORMATS = {
    fmt.name: fmt
    for fmt in (
        ExportFormat(
            "feature",
            "Cucumber .feature files",
            "A zip of one .feature per test case, for a behave, pytest-bdd or cucumber repository.",
            "features.zip",
            "application/zip",
            True,
            feature_zip,
        ),
        ExportFormat(
            "xray-csv",
            "Xray CSV",
            "Xray → Test Case Importer: one Cucumber test per scenario, linked to its story.",
            "xray-tests.csv",
            "text/csv",
            False,
            xray_csv,
            True,
        ),
        ExportFormat(
            "testrail-csv",
            "TestRail CSV",
            "TestRail → Import from CSV: one case per scenario, a section per story.",
            "testrail-cases.csv",
            "text/csv",
            False,
            testrail_csv,
            True,
        ),
        ExportFormat(
            "json",
            "QAForge JSON",
            "Everything, with ids: edit and bring back with import_tests.",
            "test-cases.json",
            "application/json",
            False,
            json_export,
        ),
        ExportFormat(
            "csv", "Spreadsheet CSV", "One row per scenario.", "test-cases.csv", "text/csv", False, generic_csv, True
        ),
    )
}
EXPORT_FORMATS = tuple(FORMATS)


def export_chunks(
    format_name: str, stories: QuerySet[UserStory], *, excel: bool = False, testrail_template: str = "steps"
) -> Iterator:
    """The chunks of one export (str, or bytes for the zip): the single entry point for the UI, API and command."""
    fmt = FORMATS.get(format_name)
    if fmt is None:
        raise ExportError(f'Unknown format "{format_name}" (use {", ".join(EXPORT_FORMATS)}).')
    kwargs = {"excel": excel} if fmt.takes_excel else {}
    if format_name == "testrail-csv":
        kwargs["template"] = testrail_template
    return fmt.write(stories, **kwargs)
