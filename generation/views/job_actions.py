"""Small actions on a job from its badge: cancel."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from generation import jobs
from generation.views._shared import job_for_editing, small_action_response


@require_POST
def cancel(request: HttpRequest, job_id) -> HttpResponse:
    job = job_for_editing(request, job_id)
    changed = jobs.cancel_job(job)
    message = (
        f"Cancelled generation for {job.story.key}." if changed else f"{job.story.key}: the job had already ended."
    )
    return small_action_response(request, job, message, "info" if changed else "warning")
