"""The import page's workflow: upload -> background parse (a preview, nothing written) -> confirm -> background write
in one transaction, or cancel.

Both steps run `stories.importing.import_stories` (the command's parser) in a django-q2 task (`stories.tasks`); the
job row carries the progress and the summary, which the page shows on load and the live-updates stream pushes
(`render_status`, the `import-status` partial, one context function). Deliveries may repeat (django-q2 delivers at
least once): each step claims its job with a conditional UPDATE first, and the import itself is an idempotent upsert.
Uploads live under MEDIA_ROOT/imports/ with a generated name; they are deleted when the job ends and swept after
QAFORGE_IMPORT_KEEP_HOURS.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from stories import history, permissions
from stories.importing import ImportFailed, ImportSummary, import_stories
from stories.models import ImportJob, Project, Role

log = logging.getLogger("qaforge.imports")
Status = ImportJob.Status
PARSE_TASK = "stories.tasks.parse_import"
WRITE_TASK = "stories.tasks.write_import"
PROGRESS_ROWS = 500  # rows between progress callbacks
PROGRESS_SECONDS = 0.5  # at most this often a progress write


def start(
    user,
    upload: UploadedFile,
    *,
    project: Project | None,
    new_project_key: str,
    new_project_name: str,
    fmt: str,
    types: str,
) -> ImportJob:
    """Store the upload under a generated name and queue its parse."""
    suffix = Path(upload.name).suffix.lower()[:10]
    job = ImportJob(
        id=uuid.uuid4(),
        created_by=user,
        project=project,
        new_project_key=new_project_key,
        new_project_name=new_project_name,
        original_name=Path(upload.name).name[:255],
        size=upload.size,
        format=fmt,
        types=types,
    )
    job.upload.save(f"{job.id}{suffix}", upload, save=False)
    job.save()
    transaction.on_commit(lambda: _queue(PARSE_TASK, job))
    return job


def confirm(job: ImportJob) -> bool:
    """Queue the write of a previewed job; False if it is not (or no longer) waiting for a confirmation."""
    if not ImportJob.objects.filter(pk=job.pk, status=Status.PREVIEW).update(
        status=Status.IMPORTING, progress=0, updated_at=timezone.now()
    ):
        return False
    transaction.on_commit(lambda: _queue(WRITE_TASK, job))
    job.refresh_from_db()
    return True


def cancel(job: ImportJob) -> bool:
    """Drop a job that has not started writing; its upload is deleted."""
    if not ImportJob.objects.filter(pk=job.pk, status__in=[Status.QUEUED, Status.PARSING, Status.PREVIEW]).update(
        status=Status.CANCELLED, finished_at=timezone.now(), updated_at=timezone.now()
    ):
        return False
    job.refresh_from_db()
    _delete_upload(job)
    return True


def _queue(task: str, job: ImportJob) -> None:
    from django_q.tasks import async_task

    try:
        async_task(task, str(job.pk), task_name=f"import {job.original_name[:40]} {str(job.pk)[:8]}")
    except Exception as error:  # the broker is not there
        log.warning("import %s could not be queued: %s", job.pk, error.__class__.__name__)
        _finish(job.pk, Status.FAILED, errors=["The job queue cannot be reached; try again in a minute."])


# --- The two steps (run by the worker) ------------------------------------------------------------------------------


def parse(job_id: str) -> str:
    """Read the whole file and record what an import would do; writes no story."""
    if not ImportJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.PARSING, updated_at=timezone.now()
    ):
        return "not queued"  # a second delivery, or cancelled
    sweep_old_uploads()
    job = ImportJob.objects.select_related("created_by", "project").get(pk=job_id)
    return _run(job, dry_run=True, done=Status.PREVIEW)


def write(job_id: str) -> str:
    """Import the confirmed file in one transaction (the importer's write pass)."""
    job = ImportJob.objects.select_related("created_by", "project").filter(pk=job_id).first()
    if job is None or job.status != Status.IMPORTING:
        return "not confirmed"
    return _run(job, dry_run=False, done=Status.DONE)


def _run(job: ImportJob, *, dry_run: bool, done: str) -> str:
    user = job.created_by
    editable = None
    if user is not None and not user.is_superuser:
        editable = set(permissions.editable_projects(user).values_list("pk", flat=True))
    progress = _Progress(job)
    try:
        # History names the user who uploaded and confirmed the file (stories.history), as the page would.
        with job.upload.open("rb") as stream, history.recorded_as(user, f"import {job.original_name}"):
            progress.stream = stream
            summary = import_stories(
                stream,
                project_key=job.target_key or None,
                fmt=job.format,
                types=job.types.split(",") if job.types else None,
                dry_run=dry_run,
                progress=progress,
                progress_every=PROGRESS_ROWS,
                editable_project_ids=editable,
                name=job.original_name,
                project_name=job.new_project_name,
            )
    except ImportFailed as failure:
        _finish(job.pk, Status.FAILED, errors=failure.errors, error_total=failure.total)
        _delete_upload(job)
        return f"failed: {failure.total} problems"
    except FileNotFoundError:
        _finish(
            job.pk, Status.FAILED, errors=["The uploaded file is gone (uploads are kept for a day); upload it again."]
        )
        return "failed: no file"
    if not dry_run:
        _grant_new_projects(user, summary)
        if job.new_project_key:  # the job now belongs to the project it created
            ImportJob.objects.filter(pk=job.pk).update(project=Project.objects.filter(key=job.new_project_key).first())
    _finish(job.pk, done, summary=summary_dict(summary), rows=summary.rows)
    if not dry_run:
        _delete_upload(job)
    return str(summary)


class _Progress:
    """The importer's progress callback: the share of the file read, written to the job at most twice a second."""

    def __init__(self, job: ImportJob):
        self.job = job
        self.stream = None
        self.last = 0.0

    def __call__(self, message: str) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_SECONDS or self.stream is None or not self.job.size:
            return
        self.last = now
        writing = message.startswith("writing")
        rows = int(message.split(":")[1].replace("rows", "").replace(",", "").strip() or 0)
        if writing:  # the write pass replays the checked rows: its share is rows written of rows read
            share = rows / self.job.rows if self.job.rows else 1.0
        else:
            share = min(1.0, self.stream.tell() / self.job.size)
        # The write step checks the file again, then writes: each is half of its bar.
        percent = int(share * 50) + (50 if writing else 0) if self.job.status == Status.IMPORTING else int(share * 100)
        ImportJob.objects.filter(pk=self.job.pk).update(progress=min(percent, 99), rows=rows, updated_at=timezone.now())


def _finish(job_id, status: str, *, summary: dict | None = None, rows: int | None = None, errors=(), error_total=0):
    fields = {"status": status, "progress": 100, "updated_at": timezone.now(), "errors": list(errors)[:50]}
    fields["error_total"] = error_total or len(fields["errors"])
    if summary is not None:
        fields["summary"] = summary
    if rows is not None:
        fields["rows"] = rows
    if status != Status.PREVIEW:
        fields["finished_at"] = timezone.now()
    ImportJob.objects.filter(pk=job_id).exclude(status=Status.CANCELLED).update(**fields)


def _grant_new_projects(user, summary: ImportSummary) -> None:
    # Whoever imports a project into existence owns it (they can then add the rest of the team).
    if user is None or user.is_superuser:
        return
    for project in Project.objects.filter(key__in=summary.projects_created):
        permissions.grant(user, project, Role.OWNER)


def summary_dict(summary: ImportSummary) -> dict:
    return {
        "format": summary.format,
        "rows": summary.rows,
        "created": summary.created,
        "updated": summary.updated,
        "unchanged": summary.unchanged,
        "projects_created": summary.projects_created,
        "types": summary.types.most_common(),
        "skipped": summary.skipped.most_common(),
        "warnings": summary.warning_lines(),
    }


def _delete_upload(job: ImportJob) -> None:
    if job.upload:
        job.upload.delete(save=False)
        ImportJob.objects.filter(pk=job.pk).update(upload="")


def sweep_old_uploads() -> int:
    """Delete the uploads of jobs older than QAFORGE_IMPORT_KEEP_HOURS (a preview nobody confirmed) and of jobs
    that ended; returns how many files went."""
    cutoff = timezone.now() - timedelta(hours=settings.QAFORGE_IMPORT_KEEP_HOURS)
    stale = ImportJob.objects.exclude(upload="").filter(
        Q(created_at__lt=cutoff) | Q(status__in=[Status.DONE, Status.FAILED, Status.CANCELLED])
    )
    count = 0
    for job in stale:
        _delete_upload(job)
        count += 1
    return count


# --- What the page shows --------------------------------------------------------------------------------------------


def status_context(job: ImportJob) -> dict:
    """Everything the `import-status` partial needs: the page, the confirm/cancel answers and the stream use it."""
    empty = {"format": "", "rows": 0, "created": 0, "updated": 0, "unchanged": 0, "projects_created": []}
    summary = {**empty, "warnings": [], **(job.summary or {})}
    return {
        "job": job,
        "summary": summary,
        "to_write": summary["created"] + summary["updated"],
        "types": summary.get("types", []),
        "skipped": sum(n for _, n in summary.get("skipped", [])),
        "event": event_name(job.pk),
    }


def render_status(job: ImportJob, request=None) -> str:
    return render_to_string("stories/import.html#import-status", status_context(job), request=request).strip()


def event_name(job_id) -> str:
    return f"import-{job_id}"
