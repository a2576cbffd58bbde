"""A process-wide cap on model calls in flight, shared by every thread and every event loop in the process.

Each job runs its own `asyncio.run` in its own worker thread, so an asyncio.Semaphore (bound to one loop) cannot
hold the line; a plain threading semaphore would block the loop while it waits. This limiter keeps a counter under a
threading lock and parks waiters as futures on their own loop, waking them with call_soon_threadsafe in FIFO order.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from contextlib import asynccontextmanager


class CallLimiter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future, int]] = deque()
        self.max_in_flight = 0  # the most calls seen in flight at once (for tests and benchmarks)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def reset_stats(self) -> None:
        with self._lock:
            self.max_in_flight = self._in_flight

    async def acquire(self, limit: int) -> None:
        limit = max(1, int(limit))
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._in_flight < limit and not self._waiters:
                self._take()
                return
            waiter = (loop, loop.create_future(), limit)
            self._waiters.append(waiter)
        try:
            await waiter[1]
        except asyncio.CancelledError:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)  # never granted: nothing to give back
                    granted = False
                else:
                    granted = True
            # Granted but cancelled: if the grant already landed we hold a slot; if it is still on its way,
            # _grant() sees the cancelled future and gives the slot back itself.
            if granted and waiter[1].done() and not waiter[1].cancelled():
                self.release()
            raise

    def release(self) -> None:
        with self._lock:
            self._in_flight -= 1
            while self._waiters and self._in_flight < self._waiters[0][2]:
                loop, future, _ = self._waiters.popleft()
                if loop.is_closed():
                    continue
                self._take()
                try:
                    loop.call_soon_threadsafe(self._grant, future)
                except RuntimeError:  # the loop closed in between
                    self._in_flight -= 1

    def _take(self) -> None:
        self._in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _grant(self, future: asyncio.Future) -> None:
        if future.done():  # cancelled while the grant was on its way: pass the slot on
            self.release()
        else:
            future.set_result(None)

    @asynccontextmanager
    async def slot(self, limit: int):
        await self.acquire(limit)
        try:
            yield
        finally:
            self.release()


# One per process: every generate() call in every thread shares it.
LIMITER = CallLimiter()
