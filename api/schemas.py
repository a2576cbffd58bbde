"""What the API answers: one schema per resource, and the functions that fill them from model rows."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.urls import reverse
from ninja import Field, Schema

from generation.models import GenerationJob


class Error(Schema):
    code: str
    error: str


class JobSummary(Schema):
    """What a finished run produced (empty until the job has run)."""

    test_cases: int = 0
    scenarios: int = 0
    dropped_invalid: int = 0
    duplicates_removed: int = 0
    seconds: float | None = None
    generator: str = ""
    model: str = ""


class Job(Schema):
    id: UUID
    story: str
    status: str
    status_display: str
    progress: int
    phase: str
    message: str  # the same as phase (kept for callers of the first API)
    error: str | None
    warning: str | None
    warnings: list[str]
    asked: dict[str, int]
    got: dict[str, int]
    generator: str
    model: str | None
    test_cases: int
    scenarios_per_test: int
    test_types: list[str]
    batches_done: int
    batches_total: int
    attempts: int
    suggestions: int
    summary: JobSummary
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    status_url: str
    events_url: str


class QueuedJob(Job):
    created: bool


def job_summary(job: GenerationJob) -> dict:
    report = job.report or {}
    return {
        "test_cases": report.get("test_cases", 0),
        "scenarios": report.get("scenarios", 0),
        "dropped_invalid": report.get("dropped_invalid", 0),
        "duplicates_removed": report.get("duplicates_removed", 0),
        "seconds": (report.get("timings") or {}).get("wall_seconds"),
        "generator": report.get("generator", job.generator),
        "model": report.get("model", job.model),
    }


def job_out(job: GenerationJob, suggestions: int | None = None) -> dict:
    """A job as the API shows it; `suggestions` may be passed in when the caller counted them already."""
    if suggestions is None:
        suggestions = job.suggestions.count() if job.status in ("ready", "saved") else 0
    return {
        "id": job.pk,
        "story": job.story.key,
        "status": job.status,
        "status_display": job.get_status_display(),
        "progress": job.progress,
        "phase": job.phase,
        "message": job.phase,
        "error": job.error or None,
        "warning": job.warning or None,
        "warnings": job.warnings or [],
        "asked": job.asked or {},
        "got": job.got or {},
        "generator": job.generator,
        "model": job.model or None,
        "test_cases": job.test_cases,
        "scenarios_per_test": job.scenarios_per_test,
        "test_types": job.test_types,
        "batches_done": job.batches_done,
        "batches_total": job.batches_total,
        "attempts": job.attempts,
        "suggestions": suggestions,
        "summary": job_summary(job),
        "queued_at": job.queued_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "status_url": reverse("api:job_status", args=[job.pk]),
        "events_url": reverse("api:job_status", args=[job.pk]) + "/events",
    }


class ScenarioData(Schema):
    name: str
    steps: str
    tags: list[str] = []
    criteria: list[int] = Field([], description="Numbers of the acceptance criteria it covers (1 for AC-1)")


class Suggestion(Schema):
    id: int
    position: int
    title: str
    objective: str
    preconditions: str
    test_type: str
    priority: str
    scenarios: list[ScenarioData]


class TestCaseOut(Schema):
    __test__ = False  # not a pytest class

    id: int
    story: str
    title: str
    objective: str
    preconditions: str
    test_type: str
    priority: str
    status: str
    scenarios: list[ScenarioData]
    source_job: UUID | None
    created_at: datetime


def suggestion_out(s) -> dict:
    return {
        "id": s.pk,
        "position": s.position,
        "title": s.title,
        "objective": s.objective,
        "preconditions": s.preconditions,
        "test_type": s.test_type,
        "priority": s.priority,
        "scenarios": [
            {"name": sc.get("name", ""), "steps": sc.get("steps", ""), "tags": sc.get("tags", [])} for sc in s.scenarios
        ],
    }


def test_case_out(tc) -> dict:
    return {
        "id": tc.pk,
        "story": tc.story.key,
        "title": tc.title,
        "objective": tc.objective,
        "preconditions": tc.preconditions,
        "test_type": tc.test_type,
        "priority": tc.priority,
        "status": tc.status,
        "scenarios": [
            {"name": s.name, "steps": s.steps, "tags": s.tags, "criteria": s.criteria} for s in tc.scenarios.all()
        ],
        "source_job": tc.source_job_id,
        "created_at": tc.created_at,
    }
