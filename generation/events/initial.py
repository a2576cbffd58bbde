"""What a (re)connecting page is sent first, before the watcher's changes: its rows' current badges and its
import job's status."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from generation.badges import attach_counts, latest_jobs_queryset, render_badge
from generation.models import ACTIVE_STATUSES

# On (re)connect, rows whose latest job changed this recently get their badge re-sent even if it finished.
RECENT_JOB_WINDOW = timedelta(minutes=10)


def initial_badges(story_ids: list[int]) -> list[tuple[int, str]]:
    """Badges of the rows whose latest job is active or changed recently: what a (re)connecting page needs."""
    if not story_ids:
        return []
    recent = timezone.now() - RECENT_JOB_WINDOW
    jobs = (
        latest_jobs_queryset()
        .filter(story_id__in=story_ids)
        .filter(Q(status__in=ACTIVE_STATUSES) | Q(updated_at__gte=recent))
    )
    return [(job.story_id, render_badge(job.story, job)) for job in attach_counts(jobs)]


def initial_imports(import_ids: list[str]) -> list[tuple[str, str]]:
    from stories.importing.jobs import render_status
    from stories.models import ImportJob

    return [
        (str(job.pk), render_status(job))
        for job in ImportJob.objects.select_related("project").filter(pk__in=import_ids)
    ]
