"""JSON API for generation jobs: queue a story, read a job's status. Session auth; CSRF on POST."""

from __future__ import annotations

import json
import uuid
from functools import wraps

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from generation import jobs
from generation.models import GenerationJob
from stories import permissions
from stories.models import UserStory


def api_login_required(view):
    """401 as JSON for anonymous callers (instead of the login redirect that pages get); 404 and 403 from
    `stories.permissions` as JSON too."""

    @login_not_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return JsonResponse({"error": "Log in first: this API uses your QAForge session."}, status=401)
        try:
            response = view(request, *args, **kwargs)
        except Http404 as error:
            return JsonResponse({"error": str(error) or "Not found."}, status=404)
        except PermissionDenied as error:
            return JsonResponse({"error": str(error) or "You may not do this."}, status=403)
        if response.status_code == 405:  # from require_GET / require_POST, which answer in plain text
            allowed = response.get("Allow", "")
            return JsonResponse({"error": f"Use {allowed} for this URL."}, status=405, headers={"Allow": allowed})
        return response

    return wrapper


def _read_options(request) -> dict:
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except ValueError as error:
            return {"_error": f"The request body is not valid JSON ({error})."}
        if not isinstance(data, dict):
            return {"_error": "The request body must be a JSON object."}
        types = data.get("test_types")
    else:
        data = request.POST
        types = data.getlist("test_types") or None
    if isinstance(types, str):
        types = [t for t in types.replace(" ", "").split(",") if t]
    if types is not None and not isinstance(types, list):
        return {"_error": "test_types must be a list of test types or a comma-separated text."}
    options = {}
    for name in ("test_cases", "scenarios_per_test"):
        value = data.get(name)
        if value in (None, ""):
            continue
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
            return {"_error": f"{name} must be a whole number."}
        options[name] = int(value)
    if types is not None:
        options["test_types"] = [str(t).upper() for t in types]
    return options


def job_json(job: GenerationJob) -> dict:
    def iso(value):
        return value.isoformat() if value else None

    return {
        "id": str(job.pk),
        "story": job.story.key,
        "status": job.status,
        "status_display": job.get_status_display(),
        "progress": job.progress,
        "message": job.phase,
        "error": job.error or None,
        "warning": job.warning or None,
        "generator": job.generator,
        "model": job.model or None,
        "test_cases": job.test_cases,
        "scenarios_per_test": job.scenarios_per_test,
        "test_types": job.test_types,
        "batches_done": job.batches_done,
        "batches_total": job.batches_total,
        "attempts": job.attempts,
        "suggestions": job.suggestions.count() if job.status in ("ready", "saved") else 0,
        "queued_at": iso(job.queued_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "status_url": reverse("api:job_status", args=[job.pk]),
    }


@api_login_required
@require_POST
def generate(request, key: str):
    options = _read_options(request)
    if "_error" in options:
        return JsonResponse({"error": options["_error"]}, status=400)
    story = _visible_story_or_404(request, key)
    permissions.require_edit(request.user, story)
    try:
        job, created = jobs.queue_generation(story, user=request.user, **options)
    except jobs.QueueError as error:
        return JsonResponse({"error": str(error)}, status=error.status)
    return JsonResponse({**job_json(job), "created": created}, status=202)


@api_login_required
@require_GET
def job_status(request, job_id: str):
    job = permissions.visible(GenerationJob.objects.select_related("story"), request.user)
    job = job.filter(pk=_uuid_or_none(job_id)).first()
    if job is None:
        return JsonResponse({"error": f"There is no job with the id {job_id!r}."}, status=404)
    return JsonResponse(job_json(job))


def _visible_story_or_404(request, key: str) -> UserStory:
    story = permissions.stories_visible_to(request.user).select_related("project").filter(key=key).first()
    if story is None:
        raise Http404(f"There is no story with the key {key!r}.")
    return story


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
