"""QAForge's own spreadsheet CSV: one row per scenario with its story and test case beside it, for reading and
filtering in a spreadsheet (not for importing back: that is the JSON export)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import QuerySet

from stories.exporting.csv_writing import csv_lines
from stories.exporting.selection import iter_test_cases
from stories.models import UserStory

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

    return csv_lines(CSV_COLUMNS, rows(), excel)
