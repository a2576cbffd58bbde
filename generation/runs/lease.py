"""The lease: one thread per task keeps the heartbeat of all the jobs it holds and notices the ones it lost; and how a
run writes, through the process's writer or alone."""

from __future__ import annotations

import logging
import threading
import time
import uuid

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from generation import jobs, runs
from generation.group_commit import GroupCommit
from generation.models import GenerationJob, JobStatus

log = logging.getLogger("qaforge.jobs")


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
                        runs._write(self.writer, self._beat)
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
