"""Import stories from a tracker export: upload -> preview (parsed in the background, nothing written) -> confirm.

The same form (`stories.forms.ImportForm`) and workflow (`stories.importing.jobs`) as the import page and the
same parser as `import_stories`; the job's status and preview are read with `GET /api/imports/<id>`.
"""

import uuid

from django.http import Http404
from ninja import Router, Schema, Status

from api.errors import ApiError
from api.schemas import Error
from stories import permissions
from stories.forms import ImportForm
from stories.importing import jobs
from stories.models import ImportJob

router = Router(tags=["stories"])


class ImportOut(Schema):
    id: str
    file: str
    status: str
    status_display: str
    progress: int
    project: str | None
    summary: dict  # the preview: format, rows, created, updated, unchanged, projects_created, types, warnings
    errors: list[str]
    error_total: int
    status_url: str
    confirm_url: str


def import_out(job: ImportJob) -> dict:
    url = f"/api/imports/{job.pk}"
    return {
        "id": str(job.pk),
        "file": job.original_name,
        "status": job.status,
        "status_display": job.get_status_display(),
        "progress": job.progress,
        "project": job.project.key if job.project_id else (job.new_project_key or None),
        "summary": job.summary or {},
        "errors": [str(e) for e in job.errors or []],
        "error_total": job.error_total,
        "status_url": url,
        "confirm_url": f"{url}/confirm",
    }


def _job(request, import_id: str) -> ImportJob:
    try:
        return permissions.get_editable_or_403(
            ImportJob.objects.select_related("project"), request.user, pk=uuid.UUID(import_id)
        )
    except (ValueError, Http404):
        raise ApiError(404, "import_not_found", f"There is no import with the id {import_id!r}.") from None


MULTIPART = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "CSV or JSON export"},
                        "project": {"type": "string", "description": "Project key the stories go to"},
                        "new_project_key": {"type": "string"},
                        "new_project_name": {"type": "string"},
                        "format": {"type": "string", "enum": ["auto", "jira", "ado", "github", "csv", "json"]},
                        "types": {"type": "string", "description": "Only these tracker types, e.g. Story, Bug"},
                    },
                }
            }
        },
    }
}


@router.post(
    "/imports", response={202: ImportOut, 400: Error, 403: Error}, summary="Upload stories", openapi_extra=MULTIPART
)
def start_import(request):
    """Upload a tracker export; it is read in the background into a preview (nothing written). Poll the
    `status_url` until `status` is `preview`, then POST the `confirm_url`."""
    permissions.require_edit(request.user, None)  # an editor of some project
    data = request.POST.copy()
    data.setdefault("format", "auto")
    key = data.get("project")
    if key:
        project = permissions.editable_projects(request.user).filter(key=key).first()
        if project is None:
            raise ApiError(404, "project_not_found", f"There is no project you may import into with the key {key!r}.")
        data["project"] = str(project.pk)
    form = ImportForm(data, request.FILES, user=request.user)
    if not form.is_valid():
        fields = [{"field": name, "message": str(msg)} for name, msgs in form.errors.items() for msg in msgs]
        raise ApiError(400, "invalid_input", " ".join(f["message"] for f in fields), fields=fields)
    cleaned = form.cleaned_data
    job = jobs.start(
        request.user,
        cleaned["file"],
        project=cleaned["project"],
        new_project_key=cleaned["new_project_key"],
        new_project_name=cleaned["new_project_name"],
        fmt=cleaned["format"],
        types=cleaned["types"],
    )
    return Status(202, import_out(job))


@router.get("/imports/{import_id}", response={200: ImportOut, 404: Error}, summary="Read an import (its preview)")
def get_import(request, import_id: str):
    return import_out(_job(request, import_id))


@router.post("/imports/{import_id}/confirm", response={202: ImportOut, 404: Error, 409: Error}, summary="Confirm")
def confirm_import(request, import_id: str):
    """Write the previewed stories (in the background, one transaction)."""
    job = _job(request, import_id)
    if not jobs.confirm(job):
        message = f"Only an import with a preview can be confirmed (this one is {job.status})."
        raise ApiError(409, "wrong_state", message)
    return Status(202, import_out(job))


@router.post("/imports/{import_id}/cancel", response={200: ImportOut, 404: Error, 409: Error}, summary="Cancel")
def cancel_import(request, import_id: str):
    job = _job(request, import_id)
    if not jobs.cancel(job):
        raise ApiError(409, "wrong_state", f"This import can no longer be cancelled ({job.status}).")
    return import_out(job)
