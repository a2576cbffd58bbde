"""Typed progress events of generation jobs, for programs: `GET /api/jobs/<id>/events` (and `?ids=` for several).

A job's events follow from what the database already holds — the job row and its batch checkpoints — so no
worker writes anything extra and a reconnecting client can be given exactly what it missed:

    1        job_queued       the request (options, when)
    2        job_started      a worker took it (attempt, generator, model)
    2 + k    batch_completed  the k-th finished batch: batch k of m, scenarios so far, progress
    3 + c    job_ready | job_failed | job_cancelled   the end (c = finished batches); the stream then closes

Each event carries an SSE `id:`. For one job it is the event's number above; for several (`?ids=a,b`) it is the
stream's position in every job, "5.3" (the jobs in the order asked), so `Last-Event-ID` resumes each job exactly.

The stream rides on the live-updates watcher (`generation.events.watcher`): one watcher per web process reads the
changed subscribed jobs (and their checkpoints) once per tick for all streams, and hands each stream its jobs'
events; a stream itself reads the database only when it connects and for its access checks. It authenticates with
an API token (`Authorization: Bearer`, checked as every API request checks it) or the Django session, its user must
be allowed to see the jobs (`stories.permissions`), and it re-checks both every QAFORGE_SSE_SESSION_CHECK_SECONDS:
a stream whose token was revoked or expired, whose user was deactivated (or signed out, for a session) or lost
access to one of its jobs' stories ends, sending nothing more.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterable
from functools import partial

from django.conf import settings
from django.db.models import F
from django.urls import reverse
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import JSONResponse

from generation.models import GenerationJob, JobStatus

MAX_JOBS_PER_STREAM = 50
FINAL_EVENTS = ("job_ready", "job_failed", "job_cancelled")
_CURSOR = re.compile(r"\d{1,4}(\.\d{1,4}){0,49}")


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def job_events(job: GenerationJob, checkpoints: list[dict]) -> list[tuple[int, str, dict]]:
    """Every event `job` has reached, as (number, type, data); `checkpoints` are its finished batches
    ({"created_at", "result"}) in any order."""
    base = {"job": str(job.pk), "story": job.story.key}
    events = [
        (
            1,
            "job_queued",
            {
                **base,
                "queued_at": _iso(job.queued_at),
                "test_cases": job.test_cases,
                "scenarios_per_test": job.scenarios_per_test,
                "test_types": job.test_types,
            },
        )
    ]
    if job.started_at is None and job.status != JobStatus.RUNNING:
        if job.status in (JobStatus.CANCELLED, JobStatus.FAILED, JobStatus.DISCARDED):
            events.append(_final(job, base, 2))
        return events
    events.append(
        (
            2,
            "job_started",
            {
                **base,
                "started_at": _iso(job.started_at),
                "attempt": job.attempts,
                "generator": job.generator,
                "model": job.model,
            },
        )
    )
    done = sorted(checkpoints, key=lambda c: (c["created_at"], c["index"]))
    finished = job.status not in (JobStatus.QUEUED, JobStatus.RUNNING)
    total = (job.report or {}).get("batches_total") or job.batches_total
    if not total and not finished:
        # A checkpoint can be read a moment before the progress write that says how many batches there are:
        # wait for it, so an event never changes between the live stream and a replay.
        return events
    total = max(total, len(done))
    scenarios = 0
    for k, checkpoint in enumerate(done, start=1):
        scenarios += sum(len(s.get("scenarios", [])) for s in checkpoint["result"].get("suggestions", []))
        events.append(
            (
                2 + k,
                "batch_completed",
                {
                    **base,
                    "batch": k,
                    "batches": total,
                    "scenarios": scenarios,
                    "progress": min(99, round(100 * k / max(total, 1))),
                },
            )
        )
    if finished:
        events.append(_final(job, base, 3 + len(done)))
    return events


def _final(job: GenerationJob, base: dict, number: int) -> tuple[int, str, dict]:
    report = job.report or {}
    if job.status == JobStatus.FAILED:
        return number, "job_failed", {**base, "reason": job.error or "Generation failed."}
    if job.status == JobStatus.CANCELLED or (job.status == JobStatus.DISCARDED and not report.get("test_cases")):
        return number, "job_cancelled", {**base, "status": job.status}
    # Ready, or saved / discarded after it was ready: the run's summary.
    summary = {
        "test_cases": report.get("test_cases", 0),
        "scenarios": report.get("scenarios", 0),
        "dropped_invalid": report.get("dropped_invalid", 0),
        "duplicates_removed": report.get("duplicates_removed", 0),
        "warnings": list(job.warnings or []),
        "seconds": (report.get("timings") or {}).get("wall_seconds"),
        "generator": report.get("generator", job.generator),
        "model": report.get("model", job.model),
    }
    status_url = reverse("api:job_status", args=[job.pk])
    return number, "job_ready", {**base, "status": job.status, "summary": summary, "status_url": status_url}


def read_job_events(job_ids: Iterable, since=None) -> dict[uuid.UUID, list[tuple[int, str, dict]]]:
    """Events of the given jobs (only those changed after `since`, when given), in ONE query for any number of jobs
    and streams: the jobs LEFT JOIN their checkpoints, one row per checkpoint (or one for a job without any)."""
    rows = (
        GenerationJob.objects.filter(pk__in=list(job_ids))
        .select_related("story")
        .annotate(
            cp_index=F("checkpoints__index"),
            cp_created=F("checkpoints__created_at"),
            cp_result=F("checkpoints__result"),
        )
    )
    if since is not None:
        rows = rows.filter(updated_at__gt=since)
    jobs: dict[uuid.UUID, GenerationJob] = {}
    checkpoints: dict[uuid.UUID, list[dict]] = {}
    for row in rows:
        jobs.setdefault(row.pk, row)
        found = checkpoints.setdefault(row.pk, [])
        if row.cp_index is not None:
            found.append({"index": row.cp_index, "created_at": row.cp_created, "result": row.cp_result})
    return {pk: job_events(job, checkpoints[pk]) for pk, job in jobs.items()}


# --- One stream -------------------------------------------------------------------------------------------------


class JobStream:
    """What one open stream has sent (a position per job) and the events not yet sent. Fed by the watcher."""

    def __init__(self, job_ids: list[uuid.UUID], cursor: list[int]) -> None:
        self.job_ids = job_ids
        self.position = dict(zip(job_ids, cursor, strict=True))
        self.finished: set[uuid.UUID] = set()
        self.loop = asyncio.get_running_loop()
        self._pending: list[tuple[uuid.UUID, int, str, dict]] = []
        self._wakeup = asyncio.Event()

    def offer(self, job_id: uuid.UUID, events: list[tuple[int, str, dict]]) -> None:
        """The job's whole event list (as the watcher read it); keep what this stream has not had yet."""
        queued = max([n for j, n, _, _ in self._pending if j == job_id], default=self.position[job_id])
        fresh = [(job_id, n, kind, data) for n, kind, data in events if n > queued]
        if any(kind in FINAL_EVENTS and n <= self.position[job_id] for n, kind, _ in events):
            self.finished.add(job_id)  # the client had the end already (a reconnect after it)
            self._wakeup.set()
        if fresh:
            self._pending.extend(fresh)
            self._wakeup.set()

    async def next_events(self) -> list[ServerSentEvent]:
        await self._wakeup.wait()
        self._wakeup.clear()
        pending, self._pending = self._pending, []
        result = []
        for job_id, number, kind, data in pending:
            self.position[job_id] = number
            if kind in FINAL_EVENTS:
                self.finished.add(job_id)
            result.append(ServerSentEvent(data=json.dumps(data), event=kind, id=self.event_id()))
        return result

    def event_id(self) -> str:
        return ".".join(str(self.position[j]) for j in self.job_ids)

    @property
    def done(self) -> bool:
        return self.finished >= set(self.job_ids)


def parse_job_ids(path_id: str | None, raw: str) -> list[uuid.UUID]:
    """The job of the path, or the comma-separated `ids`; ValueError with a message for a person."""
    parts = [path_id] if path_id else [p.strip() for p in raw.split(",") if p.strip()]
    if not parts:
        raise ValueError("Name the jobs: /api/jobs/<id>/events or /api/jobs/events?ids=<id>,<id>.")
    if len(parts) > MAX_JOBS_PER_STREAM:
        raise ValueError(f"At most {MAX_JOBS_PER_STREAM} jobs per stream.")
    try:
        return list(dict.fromkeys(uuid.UUID(p) for p in parts))
    except ValueError:
        raise ValueError("Job ids are UUIDs, e.g. 3f8a2c1e-0000-4000-8000-000000000000.") from None


def parse_cursor(raw: str | None, jobs: int) -> list[int]:
    """`Last-Event-ID` → the position in each job (zeros when absent or not one of ours)."""
    if raw and _CURSOR.fullmatch(raw.strip()):
        numbers = [int(n) for n in raw.strip().split(".")]
        if len(numbers) == jobs:
            return numbers
    return [0] * jobs


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "error": message}, status_code=status)


def stream_user(authorization: str | None, session_key: str | None):
    """The user behind an API token (`Bearer …`) or else the session; ("error code", message) when a token is
    bad. Sync: run it through run_db."""
    from api.models import ApiToken, TokenError
    from generation.events import session_user

    scheme, _, raw = (authorization or "").partition(" ")
    if scheme.lower() == "bearer":
        try:
            return ApiToken.objects.authenticate(raw), None
        except TokenError as error:
            return None, (error.code, str(error))
    return session_user(session_key), None


def visible_job_ids(user, job_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    from stories import permissions

    visible = set(permissions.visible(GenerationJob.objects.filter(pk__in=job_ids), user).values_list("pk", flat=True))
    return [j for j in job_ids if j in visible]


def still_allowed(authorization: str | None, session_key: str | None, job_ids: list[uuid.UUID]) -> bool:
    """Does the stream's token (or session) still authenticate — not revoked, not expired, its user active — and may
    its user still see every job of the stream? Sync: run it through run_db."""
    user, _token_error = stream_user(authorization, session_key)
    return user is not None and visible_job_ids(user, job_ids) == job_ids


async def events_of(
    stream: JobStream, authorization: str | None, session_key: str | None
) -> AsyncIterator[ServerSentEvent]:
    from generation.events import RECONNECT_MILLISECONDS, run_db, watcher, while_allowed

    watcher.subscribe_jobs(stream)  # before the first read, so no change falls in between
    try:
        yield ServerSentEvent(comment="connected", retry=RECONNECT_MILLISECONDS)
        for job_id, events in (await run_db(read_job_events, stream.job_ids)).items():
            stream.offer(job_id, events)
        allowed = partial(run_db, still_allowed, authorization, session_key, stream.job_ids)
        async for event in while_allowed(stream.next_events, allowed, done=lambda: stream.done):
            yield event
    finally:
        watcher.unsubscribe_jobs(stream)


async def job_events_stream(request: Request):
    from api.errors import NOT_AUTHENTICATED
    from generation.events import PING_SECONDS, run_db

    authorization = request.headers.get("authorization")
    session_key = request.cookies.get(settings.SESSION_COOKIE_NAME)
    user, token_error = await run_db(stream_user, authorization, session_key)
    if token_error is not None:
        return _error(401, *token_error)
    if user is None:
        return _error(401, "not_authenticated", NOT_AUTHENTICATED)  # word for word what the API's other routes say
    try:
        job_ids = parse_job_ids(request.path_params.get("job_id"), request.query_params.get("ids", ""))
    except ValueError as error:
        return _error(400, "invalid_input", str(error))
    visible = await run_db(visible_job_ids, user, job_ids)
    if len(visible) != len(job_ids):
        missing = ", ".join(str(j) for j in job_ids if j not in visible)
        return _error(404, "job_not_found", f"There is no job with the id {missing}.")
    stream = JobStream(job_ids, parse_cursor(request.headers.get("last-event-id"), len(job_ids)))
    return EventSourceResponse(events_of(stream, authorization, session_key), ping=PING_SECONDS, send_timeout=30)
