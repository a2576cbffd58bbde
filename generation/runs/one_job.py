"""One job: run a claimed job through the engine, checkpointing every batch, to ready, failed or cancelled; store its
result if the run still holds it; or hand it back to the queue when the worker is stopping."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.db import DatabaseError, connection, transaction
from django.db.models import F

from generation import engine, jobs, recording, runs
from generation.group_commit import GroupCommit
from generation.models import BatchCheckpoint, GenerationJob, JobStatus

log = logging.getLogger("qaforge.jobs")

# Set by the worker's SIGTERM handler (generation.worker): running jobs are handed back, no new job is claimed.
STOPPING = threading.Event()
HANDED_BACK = "Waiting for a worker (handed back by a stopping worker)"


class _Run:
    """Callbacks the engine calls while one run of a job is in progress."""

    PROGRESS_INTERVAL = 0.3  # seconds: at most a few progress writes a second

    def __init__(self, job: GenerationJob, lease: runs.Lease, writer: GroupCommit):
        self.job, self.lease, self.token, self.writer = job, lease, lease.token, writer
        self.last_write = 0.0
        self.written_done = 0  # the progress last written (batches finishing together may be written out of order)

    def on_batch_done(self, batch, done: int, total: int) -> None:
        # Through the process's writer: this job's checkpoint shares a transaction with other jobs' writes (on SQLite
        # each write transaction waits for the one lock), and returns once it is committed.
        runs._write(self.writer, lambda: self._checkpoint(batch, done, total), close_after=True)
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
        return runs.STOPPING.is_set() or self.lease.lost(self.job.pk)


@dataclass(frozen=True)
class Shared:
    """What the jobs of one task share: the lease, the writer, the threads that run the engine's batch callbacks
    (None: the engine makes its own) and the thread that reads each job before its calls (None: the job's own)."""

    lease: runs.Lease
    writer: GroupCommit
    callbacks: ThreadPoolExecutor | None = None
    reads: ThreadPoolExecutor | None = None

    def read(self, query):
        """query() on the reading thread, through its one database connection.

        A job's thread only reads its job before the calls (its writes go through the writer): opening a connection
        of its own for that cost a PostgreSQL backend per job, and a 100-story sprint's jobs opening theirs at once
        held their first calls back (measured: claimed to first call ~1 s on PostgreSQL, 0.5 s on SQLite)."""
        return self.reads.submit(_reading, query).result() if self.reads is not None else query()


def _reading(query):
    try:
        return query()
    except DatabaseError:
        connection.close()  # (a broken connection is not kept for the task's next job: the next read opens another)
        raise


def _run_claimed(job_id, shared: Shared) -> str:
    """Run a job this task has just claimed, to ready, failed, cancelled or handed back."""
    shared.lease.add(job_id)
    try:
        return runs._run_held(job_id, shared)
    finally:
        shared.lease.remove(job_id)
        connection.close()


def _run_held(job_id, shared: Shared) -> str:
    lease, writer, callbacks = shared.lease, shared.writer, shared.callbacks
    token = lease.token
    job = shared.read(lambda: GenerationJob.objects.select_related("story__project").get(pk=job_id))
    jobs._transition(job.pk, "running", story=job.story.key, attempt=job.attempts, worker=job.worker)
    started = time.monotonic()
    run = runs._Run(job, lease, writer)
    try:
        # Inside the try: whatever fails from here on fails the job with its reason, never leaves it Running.
        checkpoints = shared.read(lambda: list(job.checkpoints.values_list("index", "result")))
        done = {index: engine.BatchResult.from_dict(result) for index, result in checkpoints}
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
        if runs.STOPPING.is_set() and not lease.lost(job.pk):
            return runs.hand_back(job, token)
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
    outcome = runs._write(writer, lambda: runs._store_result(job, token, result))
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
        phase=runs.HANDED_BACK,
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
