"""Asking for a job: validate and queue one for a story (or hand back the one it already has), send a stopped job
back to the queue, run one here (`generate_tests --inline`), and which job is each story's latest."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Subquery

from generation import engine, jobs
from generation.jobs.broker import _enqueue_or_fail
from generation.jobs.errors import JobStateError, QueueError
from generation.models import ACTIVE_STATUSES, GenerationJob, JobStatus
from generation.options import GenerationOptions, OptionsError
from stories.models import UserStory


def queue_generation(
    story: UserStory | str,
    *,
    user=None,
    options: GenerationOptions | None = None,
    test_cases=None,
    scenarios_per_test=None,
    test_types=None,
    criteria=(),
    extends: GenerationJob | None = None,
    enqueue: bool = True,
) -> tuple[GenerationJob, bool]:
    """Validate, create the job and enqueue it once the transaction commits; return (job, created) at once.

    Options come validated (`options=GenerationOptions(...)`) or as raw keyword values (`test_cases=`,
    `scenarios_per_test=`, `test_types=`), validated here by the same schema; missing ones take its defaults.
    A story that already has a queued or running job gets that job back (created=False). With enqueue=False the
    caller runs the job itself (`generate_tests --inline`). `criteria` (AC numbers) narrows the job to those
    acceptance criteria; `extends` (a job ready to review) makes its suggestions join that job's review.
    """
    if isinstance(story, str):
        key = story
        story = UserStory.objects.select_related("project").filter(key=key).first()
        if story is None:
            raise QueueError(f"There is no story with the key {key!r}.", status=404)
    if story.project_id is None:
        raise QueueError("This story is not linked to a project. Link it to a project, then generate tests.")
    if options is None:
        try:
            options = GenerationOptions.parse(
                test_cases=test_cases, scenarios_per_test=scenarios_per_test, test_types=test_types
            )
        except OptionsError as error:
            raise QueueError(str(error)) from error
    try:
        criteria = tuple(sorted({int(n) for n in criteria or ()}))
    except (TypeError, ValueError) as error:
        raise QueueError("Acceptance criteria are named by their numbers (1 for AC-1).") from error
    request = engine.GenerationRequest(
        test_cases=options.test_cases,
        scenarios_per_test=options.scenarios_per_test,
        test_types=tuple(options.types),
        criteria=criteria,
    )
    problems = []
    unknown = sorted(set(request.criteria) - {n for n, _ in story.numbered_criteria})
    if unknown:
        problems.append(f"{story.key} has no acceptance criterion {', '.join(f'AC-{n}' for n in unknown)}.")
    if extends is not None and (extends.story_id != story.pk or extends.status != JobStatus.READY):
        problems.append("Only a job of this story that is ready to review can be extended.")
    if problems:
        raise QueueError(" ".join(problems))

    generator = engine.active_generator()
    created = False
    with transaction.atomic():
        # Serialise requests for one story so two quick clicks give one job (SQLite IMMEDIATE already does).
        list(UserStory.objects.select_for_update().filter(pk=story.pk).order_by().values_list("pk", flat=True))
        job = GenerationJob.objects.filter(story=story, status__in=ACTIVE_STATUSES).order_by("-queued_at").first()
        if job is None:
            job = GenerationJob.objects.create(
                story=story,
                requested_by=user if getattr(user, "is_authenticated", False) else None,
                test_cases=request.test_cases,
                scenarios_per_test=request.scenarios_per_test,
                test_types=list(request.test_types),
                criteria=list(request.criteria),
                extends=extends,
                generator=generator["generator"],
                model=generator["model"],
                phase="Waiting for a worker",
            )
            created = True
            if enqueue:
                # Raised from the commit, so the caller gets QueueError (and the job is failed, not stuck).
                transaction.on_commit(lambda: _enqueue_or_fail(job))
    if created:
        jobs._transition(job.pk, "queued", story=story.key, generator=job.generator, scenarios=job.total_scenarios)
    return job, created


def requeue_job(job: GenerationJob) -> GenerationJob:
    """Send a failed, cancelled or stuck job back to the queue (admin action); finished batches are kept."""
    if job.status in (JobStatus.SAVED, JobStatus.DISCARDED):
        raise JobStateError("A saved or discarded job cannot be queued again; generate anew instead.")
    stale = jobs._now() - timedelta(seconds=settings.QAFORGE_JOB_STALE_SECONDS)
    if job.status == JobStatus.RUNNING and job.heartbeat_at and job.heartbeat_at >= stale:
        raise JobStateError("This job is running on a live worker; cancel it first.")
    if GenerationJob.objects.filter(story_id=job.story_id, status__in=ACTIVE_STATUSES).exclude(pk=job.pk).exists():
        raise JobStateError("This story already has a queued or running job.")
    now = jobs._now()
    GenerationJob.objects.filter(pk=job.pk).update(
        status=JobStatus.QUEUED,
        error="",
        run_token="",
        phase="Waiting for a worker",
        queued_at=now,
        finished_at=None,
        updated_at=now,
    )
    job.refresh_from_db()
    _enqueue_or_fail(job)
    jobs._transition(job.pk, "re-queued", story=job.story.key)
    return job


def latest_jobs_for(story_ids) -> dict[int, GenerationJob]:
    """The latest job of each story, in one query: {story_id: job}."""
    latest = GenerationJob.objects.filter(story=OuterRef("story")).order_by("-queued_at", "-pk").values("pk")[:1]
    latest_jobs = GenerationJob.objects.filter(story_id__in=list(story_ids)).filter(pk=Subquery(latest))
    return {job.story_id: job for job in latest_jobs}


def run_job(job_id) -> str:
    """Run one job here, in this thread, to its end (`generate_tests --inline`); see `generation.runs.run_job`."""
    from generation import runs  # runs builds on this package

    return runs.run_job(job_id)
