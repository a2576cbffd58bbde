"""QAForge's own JSON: every story with its test cases and scenarios, ids included, so `import_tests` can bring an
edited file back and update what it names instead of adding copies."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator

from django.db.models import QuerySet

from stories.exporting.selection import iter_stories
from stories.models import UserStory


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
