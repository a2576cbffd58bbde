"""Choosing and claiming: which queued job the cluster takes next (round-robin across requesters), how many are
ahead of a queued one, and taking jobs under a lease with one conditional UPDATE."""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q

from generation import engine, jobs, runs
from generation.models import GenerationJob, JobStatus


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def fair_order(queued: list[tuple], running: Counter) -> list:
    """Queued jobs in the order the cluster takes them: [(pk, requester_id, queued_at)] -> [pk].

    Round-robin across requesters: a job's turn is how many jobs its requester already has running plus how many of
    the requester's queued jobs are older; lowest turn first, the older job on a tie. One lead's 100 queued stories
    therefore take turns with another lead's single story instead of all going first.
    """
    seen: Counter = Counter()
    turns = []
    for pk, requester, queued_at in sorted(queued, key=lambda row: row[2]):
        turns.append((running[requester] + seen[requester], queued_at, pk))
        seen[requester] += 1
    return [pk for _, _, pk in sorted(turns, key=lambda t: (t[0], t[1]))]


_positions: dict = {"as_of": None, "at": 0.0, "ahead": {}}
POSITIONS_MAX_AGE = 1.0  # seconds a page load may reuse the positions computed for another badge


def jobs_ahead(job: GenerationJob) -> int:
    """How many queued jobs the cluster will start before this queued one (0: it is next).

    Computed for every queued job at once and reused: a claim touches every queued job's `updated_at` (so the live
    badges are sent again), and a job changed after the last computation triggers a new one, so a pushed badge never
    shows a count older than itself.
    """
    cached = runs._positions
    stale = cached["as_of"] is None or job.updated_at > cached["as_of"]
    if stale or time.monotonic() - cached["at"] > runs.POSITIONS_MAX_AGE:
        as_of = jobs._now()
        cached = {"as_of": as_of, "at": time.monotonic(), "ahead": runs.queue_positions()}
        runs._positions.update(cached)
    return cached["ahead"].get(job.pk, 0)


def forget_queue_positions() -> None:
    runs._positions.update(as_of=None, at=0.0, ahead={})


def queue_positions() -> dict:
    """{job pk: number of queued jobs the cluster will start before it}, for the "Queued · N ahead" badge."""
    queued = list(
        GenerationJob.objects.filter(status=JobStatus.QUEUED).values_list("pk", "requested_by_id", "queued_at")
    )
    if not queued:
        return {}
    running = Counter(GenerationJob.objects.filter(status=JobStatus.RUNNING).values_list("requested_by_id", flat=True))
    return {pk: ahead for ahead, pk in enumerate(runs.fair_order(queued, running))}


def _claim(job_id, token: str) -> bool:
    """Take the lease: a queued job, or a running one whose holder stopped heartbeating. One UPDATE, so two
    claimers cannot both win. A job that is not claimable is logged as skipped."""
    now = jobs._now()
    stale = now - timedelta(seconds=settings.QAFORGE_JOB_STALE_SECONDS)
    # A read first, not a write: most tasks of a bulk request find their job taken (and SQLite has one write lock).
    row = GenerationJob.objects.filter(pk=job_id).values_list("status", "heartbeat_at").first()
    status, heartbeat = row or (None, None)
    if status == JobStatus.QUEUED or (status == JobStatus.RUNNING and (heartbeat is None or heartbeat < stale)):
        claimable = Q(status=JobStatus.QUEUED) | (
            Q(status=JobStatus.RUNNING) & (Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True))
        )
        if GenerationJob.objects.filter(claimable, pk=job_id).update(**runs._claimed(token, now)):
            return True
        status = "taken meanwhile"
    jobs._transition(job_id, "skipped", reason="missing" if status is None else f"status={status}")
    return False


def _claimed(token: str, now) -> dict:
    """The fields a claim writes: the job runs under `token` on this worker, with the generator that will run it."""
    generator = engine.active_generator()
    return {
        "status": JobStatus.RUNNING,
        "run_token": token,
        "attempts": F("attempts") + 1,
        "started_at": now,
        "heartbeat_at": now,
        "updated_at": now,
        "worker": runs._worker_name(),
        "generator": generator["generator"],
        "model": generator["model"],
        "phase": "Starting",
        "error": "",
    }


def claim_next(token: str, want: int = 1, limit: int = 500) -> list:
    """Claim up to `want` queued jobs whose turn it is (see fair_order) in one UPDATE; their pks, [] if none.

    One write for many jobs matters on SQLite, where every write waits its turn for the one write lock.
    """
    for _ in range(3):  # other workers may take some of the same jobs: try again for the rest
        queued = list(
            GenerationJob.objects.filter(status=JobStatus.QUEUED)
            .order_by("queued_at")
            .values_list("pk", "requested_by_id", "queued_at")[:limit]
        )
        if not queued:
            return []
        running = Counter(
            GenerationJob.objects.filter(status=JobStatus.RUNNING).values_list("requested_by_id", flat=True)
        )
        turn = runs.fair_order(queued, running)[:want]
        now = jobs._now()
        with transaction.atomic():
            taken = GenerationJob.objects.filter(pk__in=turn, status=JobStatus.QUEUED).update(
                **runs._claimed(token, now)
            )
            if taken:
                # Every job still queued moved up: touch them so the live badges' "N ahead" is sent again.
                GenerationJob.objects.filter(status=JobStatus.QUEUED).update(updated_at=now)
        if taken:
            return list(
                GenerationJob.objects.filter(pk__in=turn, run_token=token, started_at=now).values_list("pk", flat=True)
            )
    return []
