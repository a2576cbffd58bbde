"""TestRail's CSV import: one case per scenario, for the "Test Case (Steps)" or the BDD template.

Followed: TestRail 7.x/8.x user guide "Importing test cases from CSV", single-row layout (one row per case, mapped in
the import wizard), for its default templates "Test Case (Steps)" and "Behaviour Driven Development" (support article
"Test case templates"). Columns: `Title` (the scenario name), `Section` (story key and title), `Template`, `Type`
(TestRail's default case types), `Priority` (TestRail's four default priorities: Highest → Critical, High → High,
Medium → Medium, Low and Lowest → Low, because TestRail has no fifth level below Low), `References` (story key),
`Preconditions` (the test case's preconditions and the scenario's Given steps), `Steps` (the When steps, numbered; an
outline's Examples table follows them, since the Steps template has no data-driven runs of its own) and
`Expected Result` (the Then steps) for the Steps template, and `BDD Scenario` (the whole scenario in Gherkin,
`Scenario Outline:` with its `Examples:` for an outline, which TestRail's BDD field runs as Gherkin does) for the BDD
template. The `template` argument picks the value of the Template column; both templates' columns are always filled
so one file serves either mapping.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from django.db.models import QuerySet

from stories import gherkin
from stories.exporting.csv_writing import csv_lines, indented
from stories.exporting.selection import ExportError, iter_scenarios
from stories.models import Priority, TestType, UserStory

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

_OUTCOME_RE = re.compile(r"^Then\s")
_ACTION_RE = re.compile(r"^When\s")


def testrail_csv(stories: QuerySet[UserStory], excel: bool = False, template: str = "steps") -> Iterator[str]:
    """TestRail CSV import, one case per scenario, for the Steps or BDD template (see the module docstring)."""
    if template not in TESTRAIL_TEMPLATES:
        raise ExportError(f'Unknown TestRail template "{template}" (use {", ".join(TESTRAIL_TEMPLATES)}).')

    def rows():
        for test_case, scenario in iter_scenarios(stories):
            story = test_case.story
            steps, examples = _examples(scenario.steps)
            given, when, then = split_steps(steps)
            preconditions = "\n".join(part for part in (test_case.preconditions.strip(), "\n".join(given)) if part)
            numbered = "\n".join(f"{n}. {line}" for n, line in enumerate(when, 1))
            if examples:
                numbered += (
                    "\n\nRun the steps once per row of the Examples, with its values in place of the <placeholders>:\n"
                )
                numbered += indented(examples)
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

    return csv_lines(TESTRAIL_COLUMNS, rows(), excel)


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


def _examples(steps: str) -> tuple[str, str]:
    """(the steps, the `Examples:` part) of a scenario; the second is empty for a plain scenario."""
    match = re.search(r"^(?:Examples|Scenarios):", steps, re.MULTILINE)
    return (steps, "") if match is None else (steps[: match.start()].rstrip("\n"), steps[match.start() :])
