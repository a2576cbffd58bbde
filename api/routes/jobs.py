"""Generation: queue one story or many, read a job."""

import uuid

from django.core.exceptions import PermissionDenied
from django.http import Http404
from ninja import Field, Router, Schema, Status
from pydantic import field_validator

from api.errors import QUEUE_CODES, ApiError
from api.schemas import Error, QueuedJob, ScenarioData, Suggestion, TestCaseOut, job_out, suggestion_out, test_case_out
from api.schemas import Job as JobSchema
from generation import jobs
from generation.models import GenerationJob
from generation.options import GenerationOptions
from stories import permissions
from stories.models import UserStory

router = Router(tags=["generation"])


def story_or_404(user, key: str) -> UserStory:
    try:
        return permissions.get_visible_or_404(UserStory.objects.select_related("project"), user, key=key)
    except Http404:
        raise ApiError(404, "story_not_found", f"There is no story with the key {key!r}.") from None


def job_or_404(user, job_id: str) -> GenerationJob:
    try:
        pk = uuid.UUID(job_id)
        return permissions.get_visible_or_404(GenerationJob.objects.select_related("story__project"), user, pk=pk)
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
    permissions.require_edit(request.user, story)
    job, created = jobs.queue_generation(story, user=request.user, options=options or GenerationOptions())
    return Status(202, {**job_out(job, suggestions=0), "created": created})


@router.get("/jobs/{job_id}", response={200: JobSchema, 404: Error}, url_name="job_status", summary="Read a job")
def job_status(request, job_id: str):
    """Status, progress, phase, counts, warning, error and timestamps of one generation job."""
    return job_out(job_or_404(request.user, job_id))


class GenerateMany(GenerationOptions):
    """Stories by key, or every story of a project (or both), with the dialog's options."""

    stories: list[str] = Field(default_factory=list, description="Story keys (a comma-separated text is accepted)")
    project: str | None = Field(None, description="Project key: every story of the project")

    @field_validator("stories", mode="before")
    @classmethod
    def _keys(cls, value):
        return [k.strip() for k in value.split(",") if k.strip()] if isinstance(value, str) else value


class Refused(Schema):
    story: str
    code: str
    error: str


class QueuedMany(Schema):
    jobs: list[QueuedJob]
    refused: list[Refused]


@router.post("/generate", response={202: QueuedMany, 400: Error, 404: Error}, summary="Generate for many stories")
def generate_many(request, payload: GenerateMany):
    """Queue a job per story (named keys and/or a whole project). Stories that cannot be queued are listed in
    `refused` with the reason; the others are queued."""
    stories = permissions.visible(UserStory.objects.select_related("project"), request.user)
    chosen = []
    if payload.project:
        if not permissions.visible_projects(request.user).filter(key=payload.project).exists():
            raise ApiError(404, "project_not_found", f"There is no project with the key {payload.project!r}.")
        chosen += list(stories.filter(project__key=payload.project).natural_order())
    if payload.stories:
        found = {s.key: s for s in stories.filter(key__in=payload.stories)}
        missing = [k for k in payload.stories if k not in found]
        if missing:
            raise ApiError(404, "story_not_found", f"Unknown story key(s): {', '.join(missing)}.")
        chosen += [found[k] for k in dict.fromkeys(payload.stories)]
    if not chosen:
        raise ApiError(400, "no_stories", "Name at least one story key, or a project with stories.")
    options = GenerationOptions(**payload.model_dump(include=set(GenerationOptions.model_fields)))
    queued, refused = [], []
    with jobs.enqueue_together() as sending:  # as the page does: one round trip to the broker, bounded
        for story in dict.fromkeys(chosen):
            try:
                permissions.require_edit(request.user, story)
                queued.append(jobs.queue_generation(story, user=request.user, options=options))
            except (jobs.QueueError, PermissionDenied) as error:
                status = getattr(error, "status", 403)
                code = "forbidden" if status == 403 else QUEUE_CODES.get(status, "invalid_request")
                refused.append({"story": story.key, "code": code, "error": str(error)})
    unsent = {job.pk for job in sending.failed}
    refused += [
        {"story": job.story.key, "code": QUEUE_CODES[503], "error": jobs.QUEUE_UNREACHABLE}
        for job, _ in queued
        if job.pk in unsent
    ]
    out = [{**job_out(job, suggestions=0), "created": created} for job, created in queued if job.pk not in unsent]
    return Status(202, {"jobs": out, "refused": refused})


def _editable_job(request, job_id: str) -> GenerationJob:
    job = job_or_404(request.user, job_id)
    permissions.require_edit(request.user, job)
    return job


@router.post("/jobs/{job_id}/cancel", response={200: JobSchema, 404: Error, 409: Error}, summary="Cancel a job")
def cancel(request, job_id: str):
    """A queued job never runs; a running one stops after its current batch."""
    job = _editable_job(request, job_id)
    if not jobs.cancel_job(job):
        raise ApiError(409, "wrong_state", f"The job has already ended ({job.status}).")
    return job_out(job)


@router.get("/jobs/{job_id}/suggestions", response={200: list[Suggestion], 404: Error}, summary="Read suggestions")
def list_suggestions(request, job_id: str):
    """The test cases the generator suggested, while the job is ready to review."""
    return [suggestion_out(s) for s in job_or_404(request.user, job_id).suggestions.all()]


class SuggestionEdit(Schema):
    """Only the fields sent are changed; `scenarios` replaces the whole list."""

    title: str | None = None
    test_type: str | None = None
    priority: str | None = None
    scenarios: list[ScenarioData] | None = None


def _suggestion_id(job: GenerationJob, suggestion_id: int) -> int:
    if not job.suggestions.filter(pk=suggestion_id).exists():
        raise ApiError(404, "suggestion_not_found", f"Job {job.pk} has no suggestion {suggestion_id}.")
    return suggestion_id


@router.patch(
    "/jobs/{job_id}/suggestions/{suggestion_id}",
    response={200: Suggestion, 400: Error, 404: Error, 409: Error},
    summary="Edit a suggestion",
)
def edit_suggestion(request, job_id: str, suggestion_id: int, payload: SuggestionEdit):
    """Scenarios are checked as saving checks them (valid Gherkin, at least one step and a Then)."""
    job = _editable_job(request, job_id)
    edit = payload.model_dump(exclude_unset=True, exclude_none=True)
    return suggestion_out(jobs.edit_suggestion(job, _suggestion_id(job, suggestion_id), edit))


@router.delete(
    "/jobs/{job_id}/suggestions/{suggestion_id}",
    response={204: None, 404: Error, 409: Error},
    summary="Delete a suggestion",
)
def delete_suggestion(request, job_id: str, suggestion_id: int):
    job = _editable_job(request, job_id)
    jobs.delete_suggestion(job, _suggestion_id(job, suggestion_id))
    return Status(204, None)


class SaveIn(Schema):
    """Optional last edits, as `save_suggestions` takes them: [{"id", "delete", "title", "test_type", "priority",
    "scenarios"}]; suggestions not named are saved as they are."""

    edits: list[dict] = []


class Saved(Schema):
    job: JobSchema
    test_cases: list[TestCaseOut]


@router.post(
    "/jobs/{job_id}/save", response={200: Saved, 400: Error, 404: Error, 409: Error}, summary="Save suggestions"
)
def save(request, job_id: str, payload: SaveIn = None):
    """Save the suggestions into the story's test suite in one transaction; saving twice saves nothing twice."""
    job = _editable_job(request, job_id)
    saved = jobs.save_suggestions(job, (payload.edits if payload else None) or None, user=request.user)
    job.refresh_from_db()
    return {"job": job_out(job), "test_cases": [test_case_out(tc) for tc in saved]}


@router.post("/jobs/{job_id}/discard", response={200: JobSchema, 404: Error, 409: Error}, summary="Discard a job")
def discard(request, job_id: str):
    """Throw away the suggestions of a job that is ready, failed or cancelled."""
    job = _editable_job(request, job_id)
    if not jobs.discard_job(job):
        raise ApiError(409, "wrong_state", f"Only a ready, failed or cancelled job can be discarded ({job.status}).")
    return job_out(job)
