"""How the stream code reaches the database: off the event loop, on a pool thread's own connection, counted.

Connect-time work (who is asking, the initial badges, the periodic access checks) runs through `run_db`; the
statements it sends are counted in `connect_queries`, which the watcher's stats report (`/events/_stats`).
"""

from __future__ import annotations

import threading

from asgiref.sync import sync_to_async
from django.db import connection, connections


class _Counter:
    """A thread-safe count of SQL statements, installed with `connection.execute_wrapper`."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def __call__(self, execute, sql, params, many, context):
        with self._lock:
            self.value += 1
        return execute(sql, params, many, context)


connect_queries = _Counter()


def _with_own_connection(func, *args):
    """Run connect-time database work in a pool thread and close that thread's connection afterwards.

    These calls happen once per (re)connect, not per tick; closing keeps no idle connection per pool thread
    (and lets the test database be dropped on PostgreSQL).
    """
    try:
        with connection.execute_wrapper(connect_queries):
            return func(*args)
    finally:
        connections.close_all()


async def run_db(func, *args):
    return await sync_to_async(_with_own_connection, thread_sensitive=False)(func, *args)
