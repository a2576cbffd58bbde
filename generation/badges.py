"""The story badge: one context function feeding one partial, rendered on page load and pushed over SSE.

`badge_context(story, job)` decides what a story's badge says; `templates/generation/badge.html#story-badge`
draws it. The stories page includes that partial with the same context, and the SSE stream sends
`render_badge(story, job)`, so the HTML on first load and the HTML pushed later cannot drift apart.

Queries: `badge_context` itself runs none when the caller provides `story.test_case_count`
(`UserStory.objects.with_test_case_count()`) and the story's latest job (`generation.jobs.latest_jobs_for`,
one query for any number of stories). `attach_badges(stories)` does the latter for a page of annotated stories:
one query in all. Without the annotation each badge costs one COUNT query, fine for one badge but not a page.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.urls import reverse

from generation import runs
from generation.jobs import latest_jobs_for
from generation.models import GenerationJob, JobStatus
from stories.models import TestCase, UserStory
from stories.toasts import render_toast, toast_context

BADGE_TEMPLATE = "generation/badge.html#story-badge"

# Jobs in these states no longer drive the badge: it shows the story's test-case count instead.
COUNT_STATUSES = (JobStatus.SAVED, JobStatus.DISCARDED, JobStatus.CANCELLED)


# What the stories page can filter on: the state a row's badge shows (judged by the story's latest job, as the
# badge is), or whether the story has saved test cases at all.
BADGE_FILTERS = {
    "ready": "Ready to review",
    "generating": "Generating",
    "failed": "Failed",
    "tested": "Has test cases",
    "untested": "No tests yet",
}


def filter_by_badge(stories: QuerySet[UserStory], state: str) -> QuerySet[UserStory]:
    """The stories whose badge shows `state` (a key of BADGE_FILTERS), in SQL: one correlated subquery."""
    if state in ("tested", "untested"):
        return stories.with_test_cases(state == "tested")
    latest = GenerationJob.objects.filter(story_id=OuterRef("pk")).order_by("-queued_at", "-pk").values("status")[:1]
    stories = stories.annotate(latest_job_status=Subquery(latest))
    if state == "ready":
        return stories.filter(latest_job_status=JobStatus.READY)
    if state == "generating":
        return stories.filter(latest_job_status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
    if state == "failed":
        return stories.filter(latest_job_status=JobStatus.FAILED)
    raise ValueError(f"unknown badge filter {state!r}")


def badge_event_name(story_pk: int) -> str:
    """SSE event name for a story's badge; the partial spells the same name in its `sse-swap`."""
    return f"story-{story_pk}"


def review_url(job: GenerationJob) -> str:
    return reverse("generation:review", args=[job.pk])


def cancel_url(job: GenerationJob) -> str:
    return reverse("generation:cancel", args=[job.pk])


def case_count_subquery(story_ref: str = "pk") -> Coalesce:
    """COUNT of a story's test cases as a subquery, so it composes with other annotations without GROUP BY."""
    counts = (
        TestCase.objects.filter(story_id=OuterRef(story_ref))
        .order_by()
        .values("story_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


def latest_jobs_queryset() -> QuerySet[GenerationJob]:
    """Each story's latest job (as `generation.jobs.latest_jobs_for` picks it: newest `queued_at`), with its
    story and the story's test-case count in `job.story_test_case_count`; `attach_counts` copies that onto
    `job.story`. The SSE stream renders badges from these rows without further queries.
    """
    latest = GenerationJob.objects.filter(story_id=OuterRef("story_id")).order_by("-queued_at", "-pk").values("pk")[:1]
    return (
        GenerationJob.objects.filter(pk=Subquery(latest))
        .select_related("story")
        .annotate(story_test_case_count=case_count_subquery("story_id"))
    )


def attach_counts(jobs: Iterable[GenerationJob]) -> list[GenerationJob]:
    jobs = list(jobs)
    for job in jobs:
        job.story.test_case_count = job.story_test_case_count
    return jobs


def attach_badges(stories: Iterable[UserStory]) -> list[UserStory]:
    """Set `story.badge` (the partial's context) on each story, for `{% include ... with badge=story.badge %}`.

    One query (the latest jobs); the stories should carry `test_case_count` already.
    """
    stories = list(stories)
    jobs = latest_jobs_for([story.pk for story in stories])
    for story in stories:
        story.badge = badge_context(story, jobs.get(story.pk))
    return stories


def story_case_count(story: UserStory) -> int:
    count = getattr(story, "test_case_count", None)
    if count is None:
        count = story.test_cases.count()  # one query; annotate the page's queryset to avoid it
    return count


def count_label(count: int) -> str:
    if count == 0:
        return "No tests yet"
    return "1 test case" if count == 1 else f"{count} test cases"


def badge_context(story: UserStory, job: GenerationJob | None) -> dict:
    """Everything `generation/badge.html#story-badge` needs to draw `story`'s badge given its latest `job`.

    States: `count` (no job, or the job was saved/discarded/cancelled), `queued`, `starting` (running, nothing
    done yet), `running`, `ready`, `failed`.
    """
    context = _state(story, job)
    shown = [context.get(name) for name in _SHOWN]
    context["version"] = hashlib.blake2s(repr(shown).encode(), digest_size=6).hexdigest()
    return context


# What a badge shows: two badges with the same values are the same badge (its `version`; app.js skips the live
# stream's swap of a badge the page already shows, so a click or the focus on it is not lost to a copy of itself).
_SHOWN = ("state", "label", "progress", "phase", "error", "warning", "review_url", "cancel_url")


def _state(story: UserStory, job: GenerationJob | None) -> dict:
    context = {"story": story, "job": job, "event_name": badge_event_name(story.pk)}
    if job is None or job.status in COUNT_STATUSES:
        count = story_case_count(story)
        return {**context, "state": "count", "label": count_label(count), "test_case_count": count}
    if job.status == JobStatus.QUEUED:
        ahead = runs.jobs_ahead(job)
        label = f"Queued · {ahead} ahead" if ahead else "Queued"
        return {**context, "state": "queued", "label": label, "cancel_url": cancel_url(job)}
    if job.status == JobStatus.RUNNING:
        if job.progress <= 0 and job.batches_done == 0:
            state, label = "starting", "Starting"
        else:
            state, label = "running", f"Generating {job.progress}%"
        phase = job.phase or (f"Batch {job.batches_done + 1} of {job.batches_total}" if job.batches_total else "")
        if phase.casefold() == label.casefold():
            phase = ""  # "Starting · Starting" says it twice
        return {
            **context,
            "state": state,
            "label": label,
            "progress": max(0, min(100, job.progress)),
            "phase": phase,
            "cancel_url": cancel_url(job),
        }
    if job.status == JobStatus.READY:
        short = job.shortfall
        return {
            **context,
            "state": "ready",
            "label": f"Ready to review · {short}" if short else "Ready to review",
            "review_url": review_url(job),
            "warning": job.warning,
        }
    # Failed (and any status added later, shown as a failure rather than silently as a count).
    return {**context, "state": "failed", "label": "Failed", "error": job.error or "Generation failed."}


def render_badge(story: UserStory, job: GenerationJob | None, *, oob: bool = False) -> str:
    """The badge partial as HTML, exactly as the page renders it; the SSE stream sends this.

    The page does the same with `{% include "generation/badge.html#story-badge" with badge=... %}`, passing
    `badge_context(story, job)` as `badge`.

    With oob=True the badge swaps itself in out-of-band (an HTMX response to queueing, saving or cancelling).
    """
    return render_to_string(BADGE_TEMPLATE, {"badge": {**badge_context(story, job), "oob": oob}})


def ended_entry(job: GenerationJob) -> dict | None:
    """What the "job-finished" toast needs to know of a job that ended and waits on the lead (ready or failed);
    None for any other job. `job.story` must be loaded."""
    if job.status == JobStatus.READY:
        return {
            "state": "ready",
            "key": job.story.key,
            "review_url": review_url(job),
            "shortfall": job.shortfall,
            "warning": job.warning,
        }
    if job.status == JobStatus.FAILED:
        return {"state": "failed", "key": job.story.key, "error": job.error or "no reason given"}
    return None


def jobs_toast_context(ended: list[dict]) -> dict:
    """One toast for every job of a page that ended the same way (entries from `ended_entry`, one state):
    "3 stories ready to review · Review" (opening the first), or the failures with their reasons."""
    if ended[0]["state"] == "ready":
        first = ended[0]
        message = f"{first['key']} ready to review" if len(ended) == 1 else f"{len(ended)} stories ready to review"
        if len(ended) == 1 and first["shortfall"]:
            message += f" · {first['shortfall']}"
        # A job that delivered less than asked says so, and why (its warnings).
        details = [e["warning"] if len(ended) == 1 else f"{e['key']}: {e['warning']}" for e in ended if e["warning"]]
        return toast_context(
            message,
            "warning" if details else "success",
            details=details,
            link=first["review_url"],
            link_label="Review",
            link_hx=True,
            key="jobs-ready",
        )
    if len(ended) == 1:
        return toast_context(
            f"Generation for {ended[0]['key']} failed: {ended[0]['error']}", "error", key="jobs-failed"
        )
    details = [f"{entry['key']}: {entry['error']}" for entry in ended]
    return toast_context(f"Generation failed for {len(ended)} stories:", "error", details=details, key="jobs-failed")


def render_jobs_toast(ended: list[dict]) -> str:
    return render_toast(jobs_toast_context(ended))


def render_job_toast(job: GenerationJob) -> str:
    """The toast announcing that `job` (ready or failed) ended on its own."""
    return render_jobs_toast([ended_entry(job)])
