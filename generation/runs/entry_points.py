"""Entry points: the django-q2 task that runs its job and, while it has room, other queued jobs in turn
(`run_task`), and one job run here, in this thread (`run_job`)."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from django.conf import settings
from django.db import close_old_connections, connection

from generation import jobs, runs
from generation.group_commit import GroupCommit
from generation.models import GenerationJob, JobStatus

CLAIM_POLL_SECONDS = 0.25  # how often a task with room looks for newly queued jobs while its jobs run


def run_job(job_id) -> str:
    """Run this one job to its end (ready, failed or cancelled), in this thread. Safe to call twice: returns
    "skipped" when the job is finished or another live run holds it. (`generate_tests --inline`, tests.)"""
    close_old_connections()
    lease = runs.Lease()
    if not runs._claim(job_id, lease.token):
        return "skipped"
    writer = lease.writer = GroupCommit().start()
    lease.start()
    try:
        return runs._run_claimed(job_id, runs.Shared(lease, writer))
    finally:
        lease.stop()
        writer.stop()


def run_task(job_id) -> str:
    """The django-q2 task: run this job if it is still queued and, while there is room, every other queued job in
    turn, QAFORGE_JOBS_PER_WORKER at once. Returns a summary such as "ready=12 failed=1", or "skipped"."""
    close_old_connections()
    if runs.STOPPING.is_set():
        return runs._pass_on(job_id)
    lease = runs.Lease()
    room = max(1, int(settings.QAFORGE_JOBS_PER_WORKER))
    # Stop taking new jobs well before django-q2's timeout would kill this task with all its jobs.
    claim_until = time.monotonic() + settings.QAFORGE_TASK_TIMEOUT / 3
    outcomes: Counter = Counter()
    running: set[Future] = set()
    claimed = [job_id] if runs._claim(job_id, lease.token) else []
    claimed += runs.claim_next(lease.token, want=room - len(claimed))
    if not claimed:
        # Most tasks of a bulk request end here: an earlier task already took their job. Start nothing for them; the
        # connection is left to django-q2, which closes it before the next task unless it is a persistent one
        # (PostgreSQL's CONN_MAX_AGE), then reused: opening one costs more than this whole check.
        return "skipped"
    writer = lease.writer = GroupCommit().start()
    lease.start()
    pool = ThreadPoolExecutor(max_workers=room, thread_name_prefix="qaforge-job")
    # The engine's batch callbacks only hand their writes to the writer and wait for the commit: one thread per job,
    # none holding a database connection, so the writes of many jobs can share a transaction.
    callbacks = ThreadPoolExecutor(max_workers=room, thread_name_prefix="qaforge-job-callbacks")
    # One thread and connection read every job of this task before its calls (Shared.read).
    reads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qaforge-job-reads")
    shared = runs.Shared(lease, writer, callbacks, reads)
    try:
        while True:
            for pk in claimed:
                running.add(pool.submit(runs._run_claimed, pk, shared))
            claimed = []
            if running:
                finished, running = wait(running, timeout=runs.CLAIM_POLL_SECONDS, return_when=FIRST_COMPLETED)
                for future in finished:
                    outcomes[future.result()] += 1
            if len(running) < room and time.monotonic() < claim_until and not runs.STOPPING.is_set():
                claimed = runs.claim_next(lease.token, want=room - len(running))
            if not running and not claimed:
                break
    finally:
        pool.shutdown(wait=True)
        callbacks.shutdown(wait=True)
        reads.submit(lambda: connection.close()).result()  # (looked up and closed on the reading thread)
        reads.shutdown(wait=True)
        lease.stop()
        writer.stop()
        connection.close()
    if not outcomes:
        return "skipped"
    return " ".join(f"{name.replace(' ', '_')}={count}" for name, count in sorted(outcomes.items()))


def _pass_on(job_id) -> str:
    """A stopping worker got a task: leave its job queued for the next worker, with a task of its own."""
    job = GenerationJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).select_related("story").first()
    if job is None:
        return "skipped"
    try:
        jobs._queue_task(job)
    except jobs.QueueError:
        pass  # the reaper queues it again once the broker is back
    return "handed back"
