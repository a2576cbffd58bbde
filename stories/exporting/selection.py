"""What an export covers: the stories a caller names, read back a batch at a time in a fixed order.

Every format reads its stories through `iter_stories()`, so they all stream the same way (a batch of stories with
their test cases and scenarios per query round, never the whole project in memory) and in the same order: stories in
natural key order (SHOP-2 before SHOP-10), test cases by id, scenarios by position — the same data gives the same
file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from django.db.models import Prefetch, QuerySet

from stories.keys import normalise_key
from stories.models import Project, Scenario, TestCase, UserStory

BATCH_STORIES = 50  # stories fetched (with their test cases and scenarios) per query round while streaming


class ExportError(Exception):
    """The export cannot run as asked (unknown story, project, format or template, nothing selected); the message
    says why."""


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
    ids = list(stories.natural_order().values_list("pk", flat=True))
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
    """Every test case of the stories, in export order, with its story already attached."""
    for story in iter_stories(stories):
        for test_case in story.test_cases.all():
            test_case.story = story  # already loaded: no query per test case for its story
            yield test_case


def iter_scenarios(stories: QuerySet[UserStory]) -> Iterator[tuple[TestCase, Scenario]]:
    """(test case, scenario) for every scenario, in export order: the rows of the formats with one row per
    scenario."""
    for test_case in iter_test_cases(stories):
        for scenario in test_case.scenarios.all():
            yield test_case, scenario


def count_test_cases(stories: QuerySet[UserStory]) -> int:
    """How many saved test cases the stories have (zero means there is nothing to export)."""
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
