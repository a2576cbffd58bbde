"""Group commit: the database writes of every job a worker process runs, a few transactions for many of them.

A worker process runs up to QAFORGE_JOBS_PER_WORKER jobs at once and each finished batch is checkpointed. Written
one transaction each, a 50-story sprint is ~200 write transactions (150 checkpoints, 50 results) queueing for
SQLite's one write lock, whose waiters sleep and poll (1, 2, 5 … 100 ms) rather than being woken: measured, the last
job was ready 1.5-3 x L after its last answer. Here one writer thread per process takes everything waiting, runs
each write in its own savepoint inside one transaction, commits once, and then tells each caller how its write went.
A caller still returns only after its write is committed, so a checkpoint is as durable as before (kill -9 after
on_batch_done returned loses nothing), and one failing write rolls back only its own savepoint.

The writer also gives the process one database connection for all its jobs' writes (PostgreSQL's connection limit).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

from django.db import DatabaseError, connection, transaction

log = logging.getLogger("qaforge.jobs")

T = TypeVar("T")
MAX_GROUP = 200  # writes in one transaction at most: keeps the write lock's hold short for the web's requests


class GroupCommit:
    """A writer thread: `run(fn)` runs fn() in a savepoint of the writer's next transaction and returns its result
    (or raises its exception) once that transaction has committed. Start with `start()`, end with `stop()`."""

    def __init__(self, name: str = "qaforge-writer") -> None:
        self._lock = threading.Lock()
        self._pending: list[tuple[Callable, Future]] = []
        self._wake = threading.Condition(self._lock)
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> GroupCommit:
        self._thread.start()
        return self

    def run(self, fn: Callable[[], T]) -> T:
        future: Future = Future()
        with self._lock:
            if self._stopping:
                raise RuntimeError("the writer has stopped")
            self._pending.append((fn, future))
            self._wake.notify()
        return future.result()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        try:
            while True:
                with self._lock:
                    while not self._pending and not self._stopping:
                        self._wake.wait()
                    if not self._pending:
                        return
                    group, self._pending = self._pending[:MAX_GROUP], self._pending[MAX_GROUP:]
                self._write(group)
        finally:
            connection.close()

    def _write(self, group: list[tuple[Callable, Future]]) -> None:
        outcomes: list[tuple[Future, object, BaseException | None]] = []
        try:
            with transaction.atomic():
                for fn, future in group:
                    try:
                        with transaction.atomic():  # a savepoint: one failing write keeps the others
                            outcomes.append((future, fn(), None))
                    except Exception as error:  # noqa: BLE001 - handed to the caller that asked for this write
                        outcomes.append((future, None, error))
        except Exception as error:  # noqa: BLE001 - the transaction failed (begin or commit): nothing was written
            log.warning("group of %d writes not committed: %s", len(group), error.__class__.__name__)
            if isinstance(error, DatabaseError):
                connection.close()
            for _, future in group:
                future.set_exception(error)
            return
        for future, value, error in outcomes:
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)
