"""The import page: upload a file, watch it being read, check the preview, confirm or cancel.

The work happens in `stories.importing.jobs` (and its django-q2 tasks); these views read the form, call one
function and render the `import-status` partial, which the live-updates stream also pushes while the job runs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from stories import importing_tests, permissions
from stories.forms import ImportForm, TestsImportForm
from stories.importing import jobs
from stories.models import ImportJob


@require_http_methods(["GET", "POST"])
def import_stories(request: HttpRequest) -> HttpResponse:
    if not permissions.can_edit(request.user, None):  # an editor of no project at all
        raise PermissionDenied("Only editors of a project can import stories; ask a project owner for access.")
    form = ImportForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        job = jobs.start(
            request.user,
            data["file"],
            project=data["project"],
            new_project_key=data["new_project_key"],
            new_project_name=data["new_project_name"],
            fmt=data["format"],
            types=data["types"],
        )
        return HttpResponseClientRedirect(job.get_absolute_url()) if request.htmx else redirect(job)
    recent = permissions.editable(ImportJob.objects.select_related("project"), request.user).filter(
        created_by=request.user
    )[:5]
    return render(request, "stories/import.html", {"form": form, "job": None, "recent": recent})


@require_GET
def import_job(request: HttpRequest, import_id) -> HttpResponse:
    job = _job(request, import_id)
    return render(request, "stories/import.html", {"job": job, **jobs.status_context(job)})


@require_POST
def confirm_import(request: HttpRequest, import_id) -> HttpResponse:
    job = _job(request, import_id)
    jobs.confirm(job)
    return _status(request, job)


@require_POST
def cancel_import(request: HttpRequest, import_id) -> HttpResponse:
    job = _job(request, import_id)
    jobs.cancel(job)
    return _status(request, job)


def _job(request: HttpRequest, import_id) -> ImportJob:
    # An import job is content of its target project: its editors may see and steer it (stories.permissions).
    return permissions.get_editable_or_403(ImportJob.objects.select_related("project"), request.user, pk=import_id)


def _status(request: HttpRequest, job: ImportJob) -> HttpResponse:
    job.refresh_from_db()
    if request.htmx:
        return HttpResponse(jobs.render_status(job, request))
    return redirect(job)


@require_http_methods(["GET", "POST"])
def import_tests(request: HttpRequest) -> HttpResponse:
    """The round trip in the browser: upload edited .feature files (or the JSON export) and update the test cases."""
    if not permissions.can_edit(request.user, None):
        raise PermissionDenied("Only editors of a project can import test cases; ask a project owner for access.")
    form = TestsImportForm(request.POST or None, request.FILES or None)
    problems: list[str] = []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        with tempfile.TemporaryDirectory(prefix="qaforge-tests-") as directory:
            path = Path(directory) / f"upload{Path(upload.name).suffix.lower()}"
            with open(path, "wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
            try:
                report = importing_tests.import_tests(path, user=request.user, name=Path(upload.name).name)
            except importing_tests.ImportTestsError as error:
                problems = error.problems
            else:
                messages.success(request, report.summary())
                return redirect("stories:import_tests")
    status = 400 if problems else 200
    return render(request, "stories/import_tests.html", {"form": form, "problems": problems}, status=status)
