"""The door every model call goes through: one per process, in front of the cluster-wide limit.

A worker process runs many jobs, each in its own thread with its own `asyncio.run`, so waiting calls come from many
event loops. They queue here in arrival order; one pump thread per process takes all of them to the cluster-wide
store (`generation.ratelimit`: Redis or the database) in one round trip, together with the calls that finished (their
real token counts) and any pause a 429 asked for, and wakes the calls the store granted on their own loops. So 150
calls starting together cost a few round trips, not 150, and a 429 anywhere slows every worker of the cluster.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import threading
import time
import uuid
from collections import deque
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

logger = logging.getLogger("qaforge.engine")

STORE_RETRY_SECONDS = 0.5  # the store did not answer: ask again after this
STORE_GIVE_UP_SECONDS = 30.0  # ... and fail the waiting calls (retryable) after this long without an answer
# Finished calls and sent requests are told to the store with the next grant, or after this long when no call waits:
# one round trip for many of them (each is a write transaction, and on SQLite every write queues for the one lock;
# a sprint's 150 calls otherwise cost ~60 round trips that delayed the grants behind them by 0.1-0.4 s each). Both
# only ever make the store more cautious meanwhile: a slot held a little longer, a call counted from its grant
# rather than from the moment its request left (well inside the window's 0.5 s margin).
REPORT_DELAY_SECONDS = 0.25


class LimiterUnavailable(Exception):
    """The cluster-wide limiter's store (Redis or the database) did not answer for a while."""


@dataclass(eq=False)
class Permit:
    """One granted call. Set `tokens` to what the response's usage metadata reported; the estimate stays otherwise."""

    estimate: int
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    tokens: int | None = None
    sent: float | None = None  # when the request actually left (set by stamp_send)


# The permit of the call the current task is making, for the HTTP client's request hook.
_SENDING: contextvars.ContextVar[Permit | None] = contextvars.ContextVar("qaforge_sending", default=None)


async def stamp_send(request) -> None:
    """httpx request hook: note when the call's request really leaves. A call is counted from its grant; a fresh
    worker may take a second to build its first request, so the store moves the call's start to this moment when it
    ends (otherwise a late-sent call could share Gemini's window with the next window's calls); the store hears of it
    in the pump's next round trip."""
    permit = _SENDING.get()
    if permit is not None and permit.sent is None:
        permit.sent = time.time()
        LIMITER.note_sent(permit)


@dataclass(eq=False)
class _Waiter:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    permit: Permit


class CallLimiter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._waiting: deque[_Waiter] = deque()
        self._done: list[Permit] = []
        self._sent: list[Permit] = []
        self._reported_at: float | None = None  # when the oldest report not yet told to the store came in
        self._pause_until = 0.0
        self._thread: threading.Thread | None = None
        self._in_flight = 0
        self._exchanging = False  # the pump is in a round trip with the store
        self.max_in_flight = 0  # the most calls this process had in flight at once (tests, benchmarks)
        os.register_at_fork(after_in_child=self._after_fork)

    # --- what calls use ---

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def reset_stats(self) -> None:
        with self._lock:
            self.max_in_flight = self._in_flight

    @asynccontextmanager
    async def slot(self, estimate: int):
        """Wait for the cluster-wide limit, then hold a slot for one call; yields its Permit."""
        permit = await self.acquire(estimate)
        sending = _SENDING.set(permit)
        try:
            yield permit
        finally:
            _SENDING.reset(sending)
            self.release(permit)

    async def acquire(self, estimate: int) -> Permit:
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop, loop.create_future(), Permit(max(1, int(estimate))))
        with self._lock:
            self._waiting.append(waiter)
            self._ensure_pump()
        self._wake.set()
        try:
            await waiter.future
        except asyncio.CancelledError:
            with self._lock:
                if waiter in self._waiting:
                    self._waiting.remove(waiter)  # never granted: nothing to give back
                    raise
            # Granted (the store counted it): give the slot back, whether the grant landed or is still on its way.
            if waiter.future.done() and not waiter.future.cancelled():
                self.release(waiter.permit)
            raise
        return waiter.permit

    def release(self, permit: Permit) -> None:
        with self._lock:
            self._in_flight -= 1
            self._done.append(permit)
            self._reported_at = self._reported_at or time.monotonic()
            if not self._in_flight and not self._waiting:
                # The process's last call: nothing more will come to share the round trip with, so tell it now
                # (a job that ends leaves the store exact, not 0.25 s later).
                self._reported_at = time.monotonic() - REPORT_DELAY_SECONDS
        self._wake.set()

    def note_sent(self, permit: Permit) -> None:
        with self._lock:
            self._sent.append(permit)
            self._reported_at = self._reported_at or time.monotonic()
        self._wake.set()

    def pause(self, seconds: float) -> None:
        """A 429 asked to wait: no call anywhere in the cluster starts before then."""
        with self._lock:
            self._pause_until = max(self._pause_until, time.time() + max(0.0, seconds))
            self._ensure_pump()
        self._wake.set()

    def drain(self, timeout: float = 5.0) -> bool:
        """Tell the store now what this process has still to report, and wait until it has (tests: before the test's
        database goes away under a report sent a moment later). True if nothing is left."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if not (self._done or self._sent or self._waiting or self._exchanging):
                    return True
                self._reported_at = time.monotonic() - REPORT_DELAY_SECONDS
            self._wake.set()
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    # --- the pump ---

    def _ensure_pump(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._pump, name="qaforge-limiter", daemon=True)
            self._thread.start()

    def _after_fork(self) -> None:
        # A forked worker starts with no pump thread and nothing in flight.
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._waiting, self._done, self._sent, self._thread = deque(), [], [], None
        self._reported_at = None
        self._exchanging = False
        self._in_flight = self.max_in_flight = 0

    def _pump(self) -> None:
        from generation import ratelimit

        ask_again: float | None = None
        failing_since: float | None = None
        try:
            while True:
                self._wake.wait(timeout=ask_again if ask_again is not None else 5.0)
                self._wake.clear()
                with self._lock:
                    if not self._waiting and not self._pause_until:  # only reports: tell them a little later
                        waited = None if self._reported_at is None else time.monotonic() - self._reported_at
                        if waited is None or waited < REPORT_DELAY_SECONDS:
                            ask_again = None if waited is None else REPORT_DELAY_SECONDS - waited
                            continue
                    wants = [w.permit for w in self._waiting]
                    done, self._done = self._done, []
                    sent, self._sent = self._sent, []
                    self._reported_at = None
                    pause_until = self._pause_until
                    self._exchanging = True
                exchange = ratelimit.Exchange(
                    now=time.time(),
                    wants=[(p.id, p.estimate) for p in wants],
                    done=[(p.id, p.tokens if p.tokens is not None else p.estimate, p.sent) for p in done],
                    pause_until=pause_until,
                    sent=[(p.id, p.sent) for p in sent],
                )
                try:
                    granted, ask_again = ratelimit.store().exchange(exchange, ratelimit.Limits.from_settings())
                except Exception as error:  # noqa: BLE001 - Redis or the database is unreachable: wait, retry
                    logger.warning("rate limiter store did not answer: %s", type(error).__name__)
                    _close_connection()
                    with self._lock:
                        self._exchanging = False
                        self._done[:0] = done
                        self._sent[:0] = sent
                        if done or sent:
                            self._reported_at = self._reported_at or time.monotonic()
                    failing_since = failing_since or time.monotonic()
                    if time.monotonic() - failing_since > STORE_GIVE_UP_SECONDS:
                        self._fail_waiting(wants)
                        with self._lock:  # reports too: the store's leases free the slots, estimates stay counted
                            self._done, self._sent, self._reported_at = [], [], None
                        failing_since = None
                    ask_again = STORE_RETRY_SECONDS
                    continue
                failing_since = None
                with self._lock:
                    self._exchanging = False
                    if self._pause_until == pause_until:
                        self._pause_until = 0.0  # handed to the store, which keeps it
                    self._grant(wants[:granted])
                    if not self._waiting:
                        ask_again = None
                    elif not ask_again:
                        ask_again = 0.0
        finally:
            _close_connection()

    def _grant(self, permits: list[Permit]) -> None:
        """With the lock held: wake the waiters of these permits, in order."""
        by_permit = {id(w.permit): w for w in self._waiting}
        for permit in permits:
            waiter = by_permit.get(id(permit))
            if waiter is None:  # cancelled while the store granted it: give it straight back
                self._done.append(permit)
                self._wake.set()
                continue
            self._waiting.remove(waiter)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            try:
                waiter.loop.call_soon_threadsafe(self._settle_grant, waiter.future, permit)
            except RuntimeError:  # its loop has closed
                self._in_flight -= 1
                self._done.append(permit)

    def _fail_waiting(self, permits: list[Permit]) -> None:
        with self._lock:
            for waiter in [w for w in self._waiting if w.permit in permits]:
                self._waiting.remove(waiter)
                error = LimiterUnavailable("the rate limiter's store (Redis or the database) did not answer")
                try:
                    waiter.loop.call_soon_threadsafe(_fail, waiter.future, error)
                except RuntimeError:
                    pass

    def _settle_grant(self, future: asyncio.Future, permit: Permit) -> None:
        """On the waiter's loop."""
        if future.done():  # cancelled while the grant was on its way: pass the slot back
            self.release(permit)
        else:
            future.set_result(None)


def _fail(future: asyncio.Future, error: Exception) -> None:
    if not future.done():
        future.set_exception(error)


def _close_connection() -> None:
    try:
        from django.db import connection

        connection.close()
    except Exception:  # noqa: BLE001 - nothing to close, or already gone
        pass


# One per process: every generate() call in every thread goes through it.
LIMITER = CallLimiter()
