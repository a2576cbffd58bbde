"""Export saved test cases: `.feature` files (one per test case, a directory per story), JSON, or CSV.

`select_stories()` picks the stories (named keys and/or a project) with their test cases and scenarios prefetched, so
an export runs a fixed number of queries however many test cases there are; the writers take that list.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

from django.db.models import Count, Prefetch
from django.utils.text import slugify

from stories.keys import normalise_key
from stories.models import Project, Scenario, TestCase, UserStory

EXPORT_FORMATS = ("feature", "json", "csv")
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
    "scenario_position",
    "scenario_name",
    "tags",
    "steps",
)


class ExportError(Exception):
    """The export cannot run as asked (unknown story or project); the message says why."""


def select_stories(keys: Sequence[str] = (), project_key: str | None = None) -> list[UserStory]:
    """The stories to export, with project, test cases and scenarios prefetched.

    Named keys are exported even without test cases (so the caller can say so); otherwise only stories that have some.
    """
    stories = UserStory.objects.select_related("project").natural_order()
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
    else:
        stories = stories.annotate(test_case_count=Count("test_cases")).filter(test_case_count__gt=0)
    test_cases = TestCase.objects.order_by("id").prefetch_related(
        Prefetch("scenarios", queryset=Scenario.objects.order_by("position", "id"))
    )
    return list(stories.prefetch_related(Prefetch("test_cases", queryset=test_cases)))


def feature_files(stories: Iterable[UserStory]) -> list[tuple[str, str]]:
    """(relative path, text) for every test case: `SHOP-12/<slug of the title>.feature`, unique within a story."""
    files = []
    for story in stories:
        used: set[str] = set()
        for test_case in story.test_cases.all():
            base = slugify(test_case.title)[:80].strip("-") or f"test-case-{test_case.pk}"
            slug, n = base, 2
            while slug in used:
                slug, n = f"{base}-{n}", n + 1
            used.add(slug)
            files.append((f"{story.key}/{slug}.feature", test_case.feature_text()))
    return files


def write_features(stories: Iterable[UserStory], directory: Path) -> list[Path]:
    """Write one .feature file per test case under `directory`; returns the paths written."""
    written = []
    for relative, text in feature_files(stories):
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def features_stream_text(stories: Iterable[UserStory]) -> str:
    """All feature files in one text for stdout, each headed by a `# path` comment (a comment is valid Gherkin)."""
    return "\n".join(f"# {relative}\n{text}" for relative, text in feature_files(stories))


def stories_as_data(stories: Iterable[UserStory]) -> list[dict]:
    """Stories with their test cases and scenarios as plain data (for JSON)."""
    return [
        {
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
                        {"name": scenario.name, "tags": list(scenario.tags), "steps": scenario.steps.split("\n")}
                        for scenario in test_case.scenarios.all()
                    ],
                }
                for test_case in story.test_cases.all()
            ],
        }
        for story in stories
    ]


def write_json(stories: Iterable[UserStory], out: IO[str]) -> None:
    json.dump(stories_as_data(stories), out, indent=2, ensure_ascii=False)
    out.write("\n")


def write_csv(stories: Iterable[UserStory], out: IO[str]) -> int:
    """One row per scenario (a test case without scenarios still gets a row); returns the number of rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    rows = 0
    for story in stories:
        for test_case in story.test_cases.all():
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
            scenarios = list(test_case.scenarios.all()) or [None]
            for scenario in scenarios:
                if scenario is None:
                    writer.writerow([*base, "", "", "", ""])
                else:
                    writer.writerow([*base, scenario.position, scenario.name, " ".join(scenario.tags), scenario.steps])
                rows += 1
    return rows
