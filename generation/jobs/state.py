"""How a job ends: the clock and the log line every part of `generation.jobs` uses, ending a job (cancel, discard,
fail) under a condition, and handing a failed extension back to the review it extends."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from generation import jobs
from generation.models import ACTIVE_STATUSES, GenerationJob, JobStatus, SuggestedTestCase

log = logging.getLogger("qaforge.jobs")


def _now():
    return timezone.now()


def _transition(job_id, message: str, **extra) -> None:
    details = " ".join(f"{k}={v}" for k, v in extra.items())
    log.info("job %s %s %s", job_id, message, details)


def cancel_job(job: GenerationJob) -> bool:
    """Cancel a queued or running job; a running one stops after its current batch. False if it had already ended."""
    changed = _finish(job.pk, JobStatus.CANCELLED, only_if=ACTIVE_STATUSES, phase="Cancelled")
    if changed:
        jobs._transition(job.pk, "cancelled")
    job.refresh_from_db()
    return bool(changed)


def discard_job(job: GenerationJob) -> bool:
    """Throw away a finished job's suggestions (the lead decided not to keep them)."""
    suggested = SuggestedTestCase.objects.filter(job_id=job.pk).count()
    outcome = _all_deleted(suggested) if suggested else {}  # for the generation report
    changed = _finish(
        job.pk,
        JobStatus.DISCARDED,
        only_if=(JobStatus.READY, JobStatus.FAILED, JobStatus.CANCELLED),
        review_outcome=outcome,
    )
    if changed:
        SuggestedTestCase.objects.filter(job_id=job.pk).delete()
        jobs._transition(job.pk, "discarded")
    job.refresh_from_db()
    return bool(changed)


def _all_deleted(suggested: int) -> dict:
    return {"suggested": suggested, "unchanged": 0, "edited": 0, "deleted": suggested}


def _finish(job_id, status: str, *, only_if, error: str | None = None, phase: str | None = None, **fields) -> int:
    return _finish_many([job_id], status, only_if=only_if, error=error, phase=phase, **fields)


def _finish_many(job_ids, status: str, *, only_if=ACTIVE_STATUSES, error=None, phase=None, **fields) -> int:
    now = jobs._now()
    values = {"status": status, "finished_at": now, "updated_at": now, **fields}
    if error is not None:
        values["error"] = error
    if phase is not None:
        values["phase"] = phase
    job_ids = list(job_ids)
    changed = GenerationJob.objects.filter(pk__in=job_ids, status__in=only_if).update(**values)
    if changed and status in (JobStatus.FAILED, JobStatus.CANCELLED):
        for job_id in GenerationJob.objects.filter(pk__in=job_ids, extends__isnull=False).values_list("pk", flat=True):
            back_to_review(job_id)
    return changed


def back_to_review(job_id) -> None:
    """An extension ("Generate for this criterion") that failed or was cancelled hands the story back to the review
    it extends, if that review is still open: the review becomes the story's latest job again (its badge, the review
    queue), with a warning saying what did not arrive and why. Without this the open review would hide behind the
    failed extension's badge."""
    with transaction.atomic():
        job = GenerationJob.objects.filter(pk=job_id, extends__isnull=False).first()
        parent = job and GenerationJob.objects.select_for_update().filter(pk=job.extends_id).first()
        if (
            parent is None
            or parent.status != JobStatus.READY
            or job.status not in (JobStatus.FAILED, JobStatus.CANCELLED)
        ):
            return
        what = ", ".join(f"AC-{n}" for n in job.criteria or []) or "the criteria"
        why = f"did not finish: {job.error}" if job.status == JobStatus.FAILED else "was cancelled."
        parent.warnings = [*(parent.warnings or []), f"Generating for {what} {why}"]
        # The latest job is the one queued last; the finish time is what the live stream announces.
        parent.queued_at = parent.finished_at = jobs._now()
        parent.save(update_fields=["warnings", "queued_at", "finished_at", "updated_at"])
