"""Generation: queue one story or many, read a job."""

import uuid

from django.http import Http404
from ninja import Router, Status

from api import access
from api.errors import ApiError
from api.schemas import Error, QueuedJob, job_out
from api.schemas import Job as JobSchema
from generation import jobs
from generation.models import GenerationJob
from generation.options import GenerationOptions
from stories.models import UserStory

router = Router(tags=["generation"])


def story_or_404(user, key: str) -> UserStory:
    try:
        return access.get_visible_or_404(UserStory.objects.select_related("project"), user, key=key)
    except Http404:
        raise ApiError(404, "story_not_found", f"There is no story with the key {key!r}.") from None


def job_or_404(user, job_id: str) -> GenerationJob:
    try:
        pk = uuid.UUID(job_id)
        return access.get_visible_or_404(GenerationJob.objects.select_related("story__project"), user, pk=pk)
    except (ValueError, Http404):
        raise ApiError(404, "job_not_found", f"There is no job with the id {job_id!r}.") from None


@router.post(
    "/stories/{key}/generate",
    response={202: QueuedJob, 400: Error, 404: Error, 503: Error},
    url_name="generate",
    summary="Generate test cases for one story",
)
def generate(request, key: str, options: GenerationOptions = None):
    """Queue a generation job with the dialog's options (defaults 5 test cases × 3 scenarios, Functional + UI).
    A story that already has a queued or running job answers with that job (`created: false`)."""
    story = story_or_404(request.user, key)
    access.require_edit(request.user, story)
    job, created = jobs.queue_generation(story, user=request.user, options=options or GenerationOptions())
    return Status(202, {**job_out(job, suggestions=0), "created": created})


@router.get("/jobs/{job_id}", response={200: JobSchema, 404: Error}, url_name="job_status", summary="Read a job")
def job_status(request, job_id: str):
    """Status, progress, phase, counts, warning, error and timestamps of one generation job."""
    return job_out(job_or_404(request.user, job_id))
