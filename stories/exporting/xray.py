"""Xray's Test Case Importer CSV for Cucumber tests: one row (one Xray Test) per scenario.

Followed: Xray Cloud documentation "Importing Tests using Test Case Importer" (docs.getxray.app, XRAYCLOUD space,
2024–2025 revisions) and the Xray Server 6.x/7.x pages of the same name: any column names are allowed because they are
mapped in the wizard, but three must be mapped — `Test ID` (groups the lines of one test; unique per test here:
`sc-<scenario id>`), `Summary` and `Test Type` (must be a test type of the project: `Cucumber`). The others are mapped
to Cucumber Test Type (`Scenario` or `Scenario Outline`: Xray Server/Data Center's field of that name, which decides
the keyword Xray writes when it exports the test), Gherkin Definition (the scenario's steps, no `Scenario:` line; an
outline's `Examples:` table included, as Xray keeps it), Priority (Jira's default names), Labels (one `Labels` column
per label, as Jira's CSV import takes multi-value fields; no `@`), the requirement link (issue link "Tests" to the
story key) and the Test Repository folder (`Repository Path` = `PROJECT/STORY-KEY`). Summary is the scenario name
because that is what Xray matches on when it later imports the same scenario from a `.feature` file or a Cucumber
result.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import QuerySet

from stories import gherkin
from stories.exporting.csv_writing import csv_lines, indented
from stories.exporting.selection import iter_scenarios
from stories.models import Priority, Scenario, TestCase, UserStory

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


def xray_csv(stories: QuerySet[UserStory], excel: bool = False) -> Iterator[str]:
    """Xray Test Case Importer CSV: one Cucumber Test per scenario (see the module docstring for the columns)."""
    # As many Labels columns as the most labelled test needs (+1 for the test type), read from the tags alone.
    tags = Scenario.objects.filter(test_case__story__in=stories.order_by().values("pk")).values_list("tags", flat=True)
    labels_wide = max((len(t) for t in tags.iterator()), default=0) + 1
    header = (*XRAY_COLUMNS, *(["Labels"] * labels_wide), *XRAY_LINK_COLUMNS)

    def rows():
        for test_case, scenario in iter_scenarios(stories):
            labels = _labels(test_case, scenario)
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
                indented(scenario.steps),
                XRAY_PRIORITY[test_case.priority],
                *labels,
                *([""] * (len(header) - len(XRAY_COLUMNS) - len(XRAY_LINK_COLUMNS) - len(labels))),
                test_case.story.key,
                _repository_path(test_case.story),
            )

    return csv_lines(header, rows(), excel)


def _labels(test_case: TestCase, scenario: Scenario) -> list[str]:
    # Jira labels cannot hold spaces; tags cannot either. The test type travels as a label too.
    labels = [tag.lstrip("@") for tag in scenario.tags]
    test_type = test_case.test_type.lower()
    return labels if test_type in labels else [*labels, test_type]


def _repository_path(story: UserStory) -> str:
    return f"{story.project.key}/{story.key}" if story.project else story.key
