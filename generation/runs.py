"""Running jobs: one worker process runs many jobs at once, each under its own lease, fairly chosen.

A job is mostly waiting on the network, so a django-q2 task does not hold its worker process for one job: the task
(`run_task`) claims its own job if it is still queued, then keeps claiming queued jobs while it has room
(QAFORGE_JOBS_PER_WORKER at once) and runs each in a thread of its own (the engine's one `asyncio.run` per job).
The other jobs' own broker tasks, when a worker takes them, find their job already running and stop at once (or
claim whatever is queued then). With 8 workers x 16 jobs a cluster has 128 jobs in flight, so a sprint's 50 stories
all start together; the cluster-wide rate limiter (`generation.ratelimit`) decides how fast their calls go.

Durability is per job, as for a task with one job:
- a job is claimed by a conditional UPDATE that sets this task's lease token; two claimers cannot both win;
- one lease thread per task renews the heartbeat of all its jobs in one UPDATE and notices a job it lost (cancelled,
  or re-queued by the reaper and taken by another run), which then stops between batches;
- every finished batch is checkpointed; suggestions are written in one transaction by the lease holder;
- kill -9 of the worker leaves every job it held "running" with a stale heartbeat: the reaper re-queues each, and a
  re-run asks only the missing batches;
- a stopping worker (SIGTERM, see `generation.worker`) cancels its in-flight calls, hands each job straight back to
  the queue (status queued, attempt not counted, a new broker task) and returns.

Which job next: round-robin across requesters (`fair_order`), so one lead's 100 stories do not hold back another
lead's single story; the same order gives a queued job's "N ahead".
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import F, Q

from generation import engine, jobs, recording
from generation.group_commit import GroupCommit
from generation.models import BatchCheckpoint, GenerationJob, JobStatus

log = logging.getLogger("qaforge.jobs")

# Set by the worker's SIGTERM handler (generation.worker): running jobs are handed back, no new job is claimed.
STOPPING = threading.Event()
CLAIM_POLL_SECONDS = 0.25  # how often a task with room looks for newly queued jobs while its jobs run
HANDED_BACK = "Waiting for a worker (handed back by a stopping worker)"


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


# --- What a selection will cost -----------------------------------------------------------------------------------

DEFAULT_CALL_SECONDS = 20.0  # a model call's latency before any job has measured one
TOKENS_PER_CALL = 3000  # roughly, for a batch of 15 scenarios (the limiter corrects with what Gemini reports)


def typical_call_seconds() -> float:
    """The median latency of recent Gemini calls (from the last finished jobs' reports), or a default."""
    reports = GenerationJob.objects.filter(generator="gemini", status__in=[JobStatus.READY, JobStatus.SAVED])
    seconds = sorted(
        s
        for report in reports.order_by("-finished_at").values_list("report", flat=True)[:20]
        for s in (report or {}).get("timings", {}).get("batch_seconds", [])
        if s
    )
    return seconds[len(seconds) // 2] if seconds else DEFAULT_CALL_SECONDS


def _calls_per_job(request: engine.GenerationRequest) -> int:
    return len(engine.plan(engine.StorySnapshot(key="", title=""), request).batches)


def work_ahead() -> dict:
    """What the cluster still has to do before a selection queued now is done: {"jobs", "calls"} of the queued and
    running jobs (a running job counts only the batches it has left)."""
    rows = GenerationJob.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).values_list(
        "test_cases", "scenarios_per_test", "batches_total", "batches_done"
    )
    jobs_count = calls = 0
    per_shape: dict[tuple, int] = {}
    for test_cases, scenarios_per_test, total, done in rows:
        jobs_count += 1
        if total:
            calls += max(0, total - done)
            continue
        shape = (test_cases, scenarios_per_test)
        if shape not in per_shape:  # (the batch count depends only on these two)
            request = engine.GenerationRequest(test_cases=test_cases, scenarios_per_test=scenarios_per_test)
            per_shape[shape] = _calls_per_job(request)
        calls += per_shape[shape]
    return {"jobs": jobs_count, "calls": calls}


def estimate(stories: int, request: engine.GenerationRequest, ahead: dict | None = None) -> dict:
    """Model calls and about how long `stories` stories take with these options, given the cluster's limits and the
    work already queued or running (`ahead`, work_ahead() when not given), which the limits serve first or
    alongside: {"calls", "seconds", "limited_by", "ahead_calls"} ("limited_by" names the limit that sets the time,
    or "")."""
    if stories <= 0:
        return {"calls": 0, "seconds": 0.0, "limited_by": "", "ahead_calls": 0}
    ahead = work_ahead() if ahead is None else ahead
    calls = stories * _calls_per_job(request)
    all_calls, all_jobs = calls + ahead["calls"], stories + ahead["jobs"]
    latency = typical_call_seconds()
    window = float(settings.QAFORGE_LLM_RATE_WINDOW_SECONDS or 60)
    capacity = max(1, settings.QAFORGE_WORKERS * settings.QAFORGE_JOBS_PER_WORKER)
    times = {"": latency, "workers": math.ceil(all_jobs / capacity) * latency}
    if settings.QAFORGE_LLM_CONCURRENCY:
        times["calls in flight"] = math.ceil(all_calls / settings.QAFORGE_LLM_CONCURRENCY) * latency
    if settings.QAFORGE_LLM_RPM:
        times["requests per minute"] = (math.ceil(all_calls / settings.QAFORGE_LLM_RPM) - 1) * window + latency
    if settings.QAFORGE_LLM_TPM:
        tokens = all_calls * TOKENS_PER_CALL
        times["tokens per minute"] = (math.ceil(tokens / settings.QAFORGE_LLM_TPM) - 1) * window + latency
    limited_by = max(times, key=lambda name: (times[name], name == ""))
    return {
        "calls": calls,
        "seconds": times[limited_by],
        "limited_by": limited_by if times[limited_by] > latency else "",
        "ahead_calls": ahead["calls"],
    }


# --- Choosing and claiming -----------------------------------------------------------------------------------------


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
    cached = _positions
    stale = cached["as_of"] is None or job.updated_at > cached["as_of"]
    if stale or time.monotonic() - cached["at"] > POSITIONS_MAX_AGE:
        as_of = jobs._now()
        cached = {"as_of": as_of, "at": time.monotonic(), "ahead": queue_positions()}
        _positions.update(cached)
    return cached["ahead"].get(job.pk, 0)


def forget_queue_positions() -> None:
    _positions.update(as_of=None, at=0.0, ahead={})


def queue_positions() -> dict:
    """{job pk: number of queued jobs the cluster will start before it}, for the "Queued · N ahead" badge."""
    queued = list(
        GenerationJob.objects.filter(status=JobStatus.QUEUED).values_list("pk", "requested_by_id", "queued_at")
    )
    if not queued:
        return {}
    running = Counter(GenerationJob.objects.filter(status=JobStatus.RUNNING).values_list("requested_by_id", flat=True))
    return {pk: ahead for ahead, pk in enumerate(fair_order(queued, running))}


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
        if GenerationJob.objects.filter(claimable, pk=job_id).update(**_claimed(token, now)):
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
        "worker": _worker_name(),
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
        turn = fair_order(queued, running)[:want]
        now = jobs._now()
        with transaction.atomic():
            taken = GenerationJob.objects.filter(pk__in=turn, status=JobStatus.QUEUED).update(**_claimed(token, now))
            if taken:
                # Every job still queued moved up: touch them so the live badges' "N ahead" is sent again.
                GenerationJob.objects.filter(status=JobStatus.QUEUED).update(updated_at=now)
        if taken:
            return list(
                GenerationJob.objects.filter(pk__in=turn, run_token=token, started_at=now).values_list("pk", flat=True)
            )
    return []


# --- The lease ------------------------------------------------------------------------------------------------------


class Lease(threading.Thread):
    """The lease of every job one task holds (they share its token): one heartbeat UPDATE for all of them, renewed
    every QAFORGE_HEARTBEAT_SECONDS even while long model calls are in flight, and a quick read that tells which
    jobs are still held, so a cancelled or taken-over job stops between batches."""

    CHECK_SECONDS = 0.5

    def __init__(self, token: str | None = None, writer: GroupCommit | None = None):
        super().__init__(daemon=True, name="qaforge-lease")
        self.token = token or uuid.uuid4().hex
        # The heartbeat goes through the process's writer: as an UPDATE of its own it would lock the same job rows
        # as the writer's transaction, in another order (PostgreSQL found the deadlock and failed a job's result).
        self.writer = writer
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self._jobs: set = set()
        self._lost: set = set()

    def add(self, job_id) -> None:
        with self._lock:
            self._jobs.add(job_id)
            self._lost.discard(job_id)

    def remove(self, job_id) -> None:
        with self._lock:
            self._jobs.discard(job_id)

    def lost(self, job_id) -> bool:
        with self._lock:
            return job_id in self._lost

    def run(self) -> None:
        last_beat = time.monotonic()
        try:
            while not self.stopped.wait(min(self.CHECK_SECONDS, settings.QAFORGE_HEARTBEAT_SECONDS)):
                with self._lock:
                    held = set(self._jobs)
                if not held:
                    continue
                try:
                    if time.monotonic() - last_beat >= settings.QAFORGE_HEARTBEAT_SECONDS:
                        _write(self.writer, self._beat)
                        last_beat = time.monotonic()
                    alive = set(
                        GenerationJob.objects.filter(
                            pk__in=held, run_token=self.token, status=JobStatus.RUNNING
                        ).values_list("pk", flat=True)
                    )
                except DatabaseError as error:  # a busy or restarting database: try again next beat
                    log.warning("lease %s not renewed: %s", self.token[:8], error.__class__.__name__)
                    connection.close()
                    continue
                with self._lock:
                    self._lost |= held - alive
        finally:
            connection.close()

    def _beat(self) -> None:
        GenerationJob.objects.filter(run_token=self.token, status=JobStatus.RUNNING).update(heartbeat_at=jobs._now())

    def stop(self) -> None:
        self.stopped.set()
        if self.is_alive():
            self.join(timeout=5)


def _write(writer: GroupCommit | None, fn, close_after: bool = False):
    """fn() in the writer's next transaction; alone, in a transaction of this thread's own, if that transaction
    failed (e.g. PostgreSQL broke a deadlock there) or there is no writer (then the connection it opened is closed
    if `close_after`: the engine's callback threads hold none)."""
    if writer is not None:
        try:
            return writer.run(fn)
        except DatabaseError as error:
            log.warning("a write shared with other jobs failed (%s): writing it alone", error.__class__.__name__)
    try:
        with transaction.atomic():
            return fn()
    finally:
        if close_after:
            connection.close()


# --- One job -------------------------------------------------------------------------------------------------------


class _Run:
    """Callbacks the engine calls while one run of a job is in progress."""

    PROGRESS_INTERVAL = 0.3  # seconds: at most a few progress writes a second

    def __init__(self, job: GenerationJob, lease: Lease, writer: GroupCommit):
        self.job, self.lease, self.token, self.writer = job, lease, lease.token, writer
        self.last_write = 0.0
        self.written_done = 0  # the progress last written (batches finishing together may be written out of order)

    def on_batch_done(self, batch, done: int, total: int) -> None:
        # Through the process's writer: this job's checkpoint shares a transaction with other jobs' writes (on SQLite
        # each write transaction waits for the one lock), and returns once it is committed.
        _write(self.writer, lambda: self._checkpoint(batch, done, total), close_after=True)
        log.info(
            "job %s batch %s done (%s/%s) attempts=%s seconds=%.2f%s",
            self.job.pk,
            batch.index,
            done,
            total,
            batch.attempts,
            batch.seconds,
            f" failed: {batch.error}" if batch.error else "",
        )

    def _checkpoint(self, batch, done: int, total: int) -> None:
        """On the writer's thread, inside its transaction: the checkpoint and (a few times a second) the progress."""
        if not batch.error:  # only successes are kept: a failed batch is asked again by the next run
            # One INSERT … ON CONFLICT UPDATE (update_or_create is a savepoint, a SELECT and a write).
            BatchCheckpoint.objects.bulk_create(
                [BatchCheckpoint(job_id=self.job.pk, index=batch.index, result=batch.to_dict())],
                update_conflicts=True,
                unique_fields=["job", "index"],
                update_fields=["result"],
            )
        now_mono = time.monotonic()
        if done > self.written_done and (done == total or now_mono - self.last_write >= self.PROGRESS_INTERVAL):
            self.last_write, self.written_done = now_mono, done
            try:
                with transaction.atomic():  # a savepoint: a failed progress write keeps the checkpoint
                    GenerationJob.objects.filter(pk=self.job.pk, run_token=self.token).update(
                        progress=min(99, round(100 * done / max(total, 1))),
                        phase=f"Batch {done} of {total}",
                        batches_done=done,
                        batches_total=total,
                        heartbeat_at=jobs._now(),
                        updated_at=jobs._now(),
                    )
            except DatabaseError as error:  # progress is a courtesy; the checkpoint above is what matters
                log.warning("job %s progress not written: %s", self.job.pk, error.__class__.__name__)

    def should_cancel(self) -> bool:
        return STOPPING.is_set() or self.lease.lost(self.job.pk)


def _run_claimed(job_id, lease: Lease, writer: GroupCommit, callbacks: ThreadPoolExecutor | None = None) -> str:
    """Run a job this lease has just claimed, to ready, failed, cancelled or handed back."""
    lease.add(job_id)
    try:
        return _run_held(job_id, lease, writer, callbacks)
    finally:
        lease.remove(job_id)
        connection.close()


def _run_held(job_id, lease: Lease, writer: GroupCommit, callbacks: ThreadPoolExecutor | None = None) -> str:
    token = lease.token
    job = GenerationJob.objects.select_related("story__project").get(pk=job_id)
    jobs._transition(job.pk, "running", story=job.story.key, attempt=job.attempts, worker=job.worker)
    started = time.monotonic()
    run = _Run(job, lease, writer)
    try:
        # Inside the try: whatever fails from here on fails the job with its reason, never leaves it Running.
        done = {cp.index: engine.BatchResult.from_dict(cp.result) for cp in job.checkpoints.all()}
        request = engine.GenerationRequest(
            test_cases=job.test_cases,
            scenarios_per_test=job.scenarios_per_test,
            test_types=tuple(job.test_types),
            criteria=tuple(job.criteria or ()),
        )
        snapshot = engine.StorySnapshot.from_story(job.story)
        # While the calls run, this thread needs no connection: with 16 jobs a worker, holding one each would pass
        # PostgreSQL's connection limit (their writes go through the process's one writer and its connection).
        connection.close()
        result = engine.generate(
            snapshot,
            request,
            done=done,
            on_batch_done=run.on_batch_done,
            should_cancel=run.should_cancel,
            callbacks=callbacks,
        )
    except engine.Cancelled:
        if STOPPING.is_set() and not lease.lost(job.pk):
            return hand_back(job, token)
        jobs._transition(job.pk, "stopped", reason="cancelled or lease lost")
        return "cancelled"
    except engine.EngineError as error:
        jobs._finish(
            job.pk, JobStatus.FAILED, only_if=[JobStatus.RUNNING], error=str(error), phase="Failed", run_token=""
        )
        jobs._transition(job.pk, "failed", error=str(error), seconds=f"{time.monotonic() - started:.2f}")
        return "failed"
    except Exception:
        log.exception("job %s crashed", job.pk)
        jobs._finish(
            job.pk,
            JobStatus.FAILED,
            only_if=[JobStatus.RUNNING],
            error="Generation stopped on an unexpected error; an admin can find the details in the worker log.",
            phase="Failed",
            run_token="",
        )
        return "failed"
    outcome = _write(writer, lambda: _store_result(job, token, result))
    jobs._transition(job.pk, outcome, seconds=f"{time.monotonic() - started:.2f}", suggestions=len(result.suggestions))
    return outcome


def hand_back(job: GenerationJob, token: str) -> str:
    """Give a job this run holds back to the queue at once (the worker is stopping): its checkpoints stay, this
    attempt is not counted, and a new broker task is queued so another worker (or the next start) takes it."""
    returned = GenerationJob.objects.filter(pk=job.pk, run_token=token, status=JobStatus.RUNNING).update(
        status=JobStatus.QUEUED,
        run_token="",
        attempts=F("attempts") - 1,
        heartbeat_at=None,
        phase=HANDED_BACK,
        updated_at=jobs._now(),
    )
    if not returned:
        return "stopped"
    try:
        jobs._queue_task(job)
    except jobs.QueueError:
        pass  # the broker is down: the reaper queues it again once it can
    jobs._transition(job.pk, "handed back", reason="worker stopping")
    return "handed back"


def _store_result(job: GenerationJob, token: str, result) -> str:
    """Write the suggestions and the final state in one transaction, if this run still holds the job."""
    with transaction.atomic():
        current = GenerationJob.objects.select_for_update().filter(pk=job.pk, run_token=token).first()
        if current is None or current.status != JobStatus.RUNNING:
            return "stopped"
        if result.error and not result.suggestions:
            current.status = JobStatus.FAILED
            current.error = result.error
            current.phase = "Failed"
        elif current.extends_id and recording.join_review(current, result):
            return JobStatus.READY
        else:
            # A retried run may find suggestions of an earlier run that died after writing them: replace, never add.
            recording.store_ready(current, result)
        recording.record_provenance(current, result.report)
        current.batches_total = result.batches_total
        current.batches_done = result.batches_total
        current.finished_at = jobs._now()
        current.run_token = ""
        current.save()
    if current.status == JobStatus.FAILED:
        jobs.back_to_review(current.pk)
    return current.status


# --- Entry points --------------------------------------------------------------------------------------------------


def run_job(job_id) -> str:
    """Run this one job to its end (ready, failed or cancelled), in this thread. Safe to call twice: returns
    "skipped" when the job is finished or another live run holds it. (`generate_tests --inline`, tests.)"""
    close_old_connections()
    lease = Lease()
    if not _claim(job_id, lease.token):
        return "skipped"
    writer = lease.writer = GroupCommit().start()
    lease.start()
    try:
        return _run_claimed(job_id, lease, writer)
    finally:
        lease.stop()
        writer.stop()


def run_task(job_id) -> str:
    """The django-q2 task: run this job if it is still queued and, while there is room, every other queued job in
    turn, QAFORGE_JOBS_PER_WORKER at once. Returns a summary such as "ready=12 failed=1", or "skipped"."""
    close_old_connections()
    if STOPPING.is_set():
        return _pass_on(job_id)
    lease = Lease()
    room = max(1, int(settings.QAFORGE_JOBS_PER_WORKER))
    # Stop taking new jobs well before django-q2's timeout would kill this task with all its jobs.
    claim_until = time.monotonic() + settings.QAFORGE_TASK_TIMEOUT / 3
    outcomes: Counter = Counter()
    running: set[Future] = set()
    claimed = [job_id] if _claim(job_id, lease.token) else []
    claimed += claim_next(lease.token, want=room - len(claimed))
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
    try:
        while True:
            for pk in claimed:
                running.add(pool.submit(_run_claimed, pk, lease, writer, callbacks))
            claimed = []
            if running:
                finished, running = wait(running, timeout=CLAIM_POLL_SECONDS, return_when=FIRST_COMPLETED)
                for future in finished:
                    outcomes[future.result()] += 1
            if len(running) < room and time.monotonic() < claim_until and not STOPPING.is_set():
                claimed = claim_next(lease.token, want=room - len(running))
            if not running and not claimed:
                break
    finally:
        pool.shutdown(wait=True)
        callbacks.shutdown(wait=True)
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
