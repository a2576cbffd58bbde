"""Live badge updates: one Server-Sent Events stream per page, fed by one database watcher per server process.

`GET /events/stories?ids=1,2,3` (served by sse-starlette; `qaforge/asgi.py` routes `/events/` here) streams
the badge of each listed story as the event `story-<pk>` whose data is the badge partial
(`generation.badges.render_badge`), and a `job-finished` event (a toast) when a job becomes ready or fails.

These requests skip Django's middleware, so the stream authenticates the Django session itself, the way
`django.contrib.auth.get_user` does (session auth hash included), shows only the stories `stories.permissions`
lets its user see, and re-checks both every QAFORGE_SSE_SESSION_CHECK_SECONDS: a stream whose user logged out,
was deactivated, changed password or lost access to one of its stories ends, sending nothing more.

Database load does not grow with the number of open pages: a single `Watcher` task per process polls for jobs
changed since its high-water mark a few times a second (one query per tick), renders each changed badge once
and hands it to every stream subscribed to that story. Each stream keeps only the latest badge per story, so a
slow client never piles up stale updates.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from importlib import import_module

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model, load_backend
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, connections
from django.db.models import Max, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from generation import job_events
from generation.badges import (
    attach_counts,
    badge_event_name,
    ended_entry,
    latest_jobs_queryset,
    render_badge,
    render_jobs_toast,
)
from generation.models import ACTIVE_STATUSES, GenerationJob, JobStatus
from stories import permissions

log = logging.getLogger("qaforge.events")

MAX_STORIES_PER_STREAM = 200
# On (re)connect, rows whose latest job changed this recently get their badge re-sent even if it finished.
RECENT_JOB_WINDOW = timedelta(minutes=10)
PING_SECONDS = 15
RECONNECT_MILLISECONDS = 2000
TOAST_EVENT = "job-finished"
TOAST_STATUSES = (JobStatus.READY, JobStatus.FAILED)


# --- Who is asking, and what may they see ----------------------------------------------------------------------


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


def session_user(session_key: str | None):
    """The active user signed in with this session key, or None. Sync: run it through sync_to_async.

    Mirrors `django.contrib.auth.get_user` (same session keys, backend check and session-hash check, fallback
    secrets accepted) but never writes to the session: the stream has no response cookie to update.
    """
    if not session_key:
        return None
    engine = import_module(settings.SESSION_ENGINE)
    data = engine.SessionStore(session_key).load()  # {} for an unknown, expired or tampered session
    try:
        user_id = get_user_model()._meta.pk.to_python(data[SESSION_KEY])
        backend_path = data[BACKEND_SESSION_KEY]
    except (KeyError, ValidationError):
        return None
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    user = load_backend(backend_path).get_user(user_id)
    if user is None or not getattr(user, "is_active", False):
        return None
    session_hash = data.get(HASH_SESSION_KEY)
    if not session_hash:
        return None
    # A changed password changes the hash, which signs out every other session (as in get_user).
    expected = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    if not any(constant_time_compare(session_hash, h) for h in expected):
        return None
    return user


def visible_story_ids(user, story_ids: Iterable[int]) -> list[int]:
    """The subset of `story_ids` that exist and `user` may see (`stories.permissions`)."""
    return list(permissions.stories_visible_to(user).filter(pk__in=list(story_ids)).values_list("pk", flat=True))


def parse_story_ids(raw: str) -> list[int]:
    """`"1,2,3"` → `[1, 2, 3]`; raises ValueError (with a message for a person) on anything else."""
    ids: list[int] = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or len(part) > 18:
            raise ValueError(f"Story ids must be whole numbers, not {part[:20]!r}.")
        ids.append(int(part))
    ids = list(dict.fromkeys(ids))
    if len(ids) > MAX_STORIES_PER_STREAM:
        raise ValueError(f"At most {MAX_STORIES_PER_STREAM} stories per stream.")
    return ids


def parse_import_ids(raw: str) -> list[str]:
    """`"<uuid>"` (the import page's job) → `["<uuid>"]`; at most one: an import page watches its own job."""
    raw = raw.strip()
    if not raw:
        return []
    try:
        return [str(uuid.UUID(raw))]
    except ValueError:
        raise ValueError("The import id must be a UUID.") from None


def editable_import_ids(user, import_ids: list[str]) -> list[str]:
    """The import jobs among `import_ids` that `user` may steer (stories.permissions: editors of their project)."""
    from stories.models import ImportJob

    if not import_ids:
        return []
    jobs = permissions.editable(ImportJob.objects.filter(pk__in=import_ids), user)
    return [str(pk) for pk in jobs.values_list("pk", flat=True)]


def initial_imports(import_ids: list[str]) -> list[tuple[str, str]]:
    from stories.importing.jobs import render_status
    from stories.models import ImportJob

    return [
        (str(job.pk), render_status(job))
        for job in ImportJob.objects.select_related("project").filter(pk__in=import_ids)
    ]


def import_event_name(job_id) -> str:
    return f"import-{job_id}"  # the same spelling as stories.importing.jobs.event_name


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


def initial_badges(story_ids: list[int]) -> list[tuple[int, str]]:
    """Badges of the rows whose latest job is active or changed recently: what a (re)connecting page needs."""
    if not story_ids:
        return []
    recent = timezone.now() - RECENT_JOB_WINDOW
    jobs = (
        latest_jobs_queryset()
        .filter(story_id__in=story_ids)
        .filter(Q(status__in=ACTIVE_STATUSES) | Q(updated_at__gte=recent))
    )
    return [(job.story_id, render_badge(job.story, job)) for job in attach_counts(jobs)]


# --- The shared watcher ----------------------------------------------------------------------------------------


class Subscription:
    """One open stream's interest: its stories, and the updates not yet sent (only the latest per story).

    Toasts coalesce per stream: the jobs of this page that ended while it was open and still wait on the lead
    (ready, or failed) are remembered, and each announcement re-renders ONE toast for all of them ("3 stories
    ready to review · Review"), which replaces the previous one in the page (same `data-toast-key`).
    """

    def __init__(self, story_ids: Iterable[int], import_ids: Iterable[str] = ()) -> None:
        self.story_ids = frozenset(story_ids)
        self.import_ids = frozenset(import_ids)  # import jobs whose page this is (stories.importing.jobs)
        self._imports: dict[str, str] = {}
        self.loop = asyncio.get_running_loop()
        self._badges: dict[int, str] = {}
        self._ended: dict[int, dict] = {}  # story id -> ended_entry of its latest job, oldest first
        self._announce: set[str] = set()  # states ("ready", "failed") whose toast is due
        self._wakeup = asyncio.Event()

    def offer(self, story_id: int, html: str, ended: dict | None, announce: bool = False) -> None:
        # A newer badge replaces an unsent older one: the queue is bounded by the number of rows on the page.
        self._badges.pop(story_id, None)
        self._badges[story_id] = html
        if ended is None:
            self._ended.pop(story_id, None)  # saved, discarded or re-queued: no longer waiting
        elif announce:
            self._ended.pop(story_id, None)
            self._ended[story_id] = ended
            self._announce.add(ended["state"])
        self._wakeup.set()

    def offer_import(self, job_id: str, html: str) -> None:
        self._imports[job_id] = html  # only the latest state of the job matters
        self._wakeup.set()

    async def next_events(self) -> list[ServerSentEvent]:
        await self._wakeup.wait()
        self._wakeup.clear()
        events = [ServerSentEvent(data=html, event=badge_event_name(pk)) for pk, html in self._badges.items()]
        for state in sorted(self._announce):
            ended = [entry for entry in self._ended.values() if entry["state"] == state]
            if ended:
                events.append(ServerSentEvent(data=render_jobs_toast(ended), event=TOAST_EVENT))
        events += [ServerSentEvent(data=html, event=import_event_name(pk)) for pk, html in self._imports.items()]
        self._badges.clear()
        self._imports.clear()
        self._announce.clear()
        return events


class Watcher:
    """Polls the database for changed jobs and fans rendered badges out to every subscribed stream.

    One asyncio task per process, started by the first subscriber and ended after `idle_seconds` with none.
    Database work runs in one dedicated thread, serially, on that thread's own connection.

    Change detection: jobs with `updated_at` above a high-water mark taken from the database's own values
    (workers' clocks, not ours), minus an `overlap` window re-read every tick so a write stamped slightly in the
    past (clock skew, a transaction that committed late) is not missed; re-read rows are recognised by
    (job id, story version) and skipped.
    """

    def __init__(self, interval: float = 0.25, overlap: float = 3.0, idle_seconds: float = 10.0) -> None:
        self.interval = interval
        self.overlap = timedelta(seconds=overlap)
        self.idle_seconds = idle_seconds
        self._subscriptions: set[Subscription] = set()
        self._job_streams: set = set()  # generation.job_events.JobStream
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qaforge-sse-watcher")
        self._queries = _Counter()
        self.ticks = 0
        self.badges_rendered = 0
        self.events_queued = 0
        self.streams_opened = 0
        self._reset_state()

    # Watcher-thread state (touched only by functions running on self._executor).
    def _reset_state(self) -> None:
        self._high_water = None
        self._started = False
        self._start_mark = None  # the high-water mark at start: jobs that ended before it are not announced
        self._seen: dict[int, tuple] = {}  # story id -> (latest job id, story version, status)
        self._import_seen: dict[str, object] = {}  # import job id -> the updated_at last sent
        self._jobs_since = None  # job event streams: jobs changed after this are read on the next tick

    def stats(self) -> dict:
        return {
            "streams": len(self._subscriptions),
            "job_streams": len(self._job_streams),
            "streams_opened": self.streams_opened,
            "running": self._task is not None and not self._task.done(),
            "ticks": self.ticks,
            "queries": self._queries.value,
            "badges_rendered": self.badges_rendered,
            "events_queued": self.events_queued,
            "connect_queries": connect_queries.value,
        }

    async def astats(self) -> dict:
        """`stats()` read on the watcher thread, so it never falls in the middle of a tick."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.stats)

    def subscribe(self, story_ids: Iterable[int], import_ids: Iterable[str] = ()) -> Subscription:
        """Register a stream (call from the server's event loop); starts the watcher if it is not running."""
        subscription = Subscription(story_ids, import_ids)
        self._ensure_running(subscription.loop)
        self._subscriptions.add(subscription)
        self.streams_opened += 1
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def subscribe_jobs(self, stream) -> None:
        """Register a job event stream (`generation.job_events.JobStream`): it gets its jobs' events each tick
        they change, read once for all such streams."""
        self._ensure_running(stream.loop)
        self._job_streams.add(stream)
        self.streams_opened += 1

    def unsubscribe_jobs(self, stream) -> None:
        self._job_streams.discard(stream)

    def _ensure_running(self, loop) -> None:
        if self._task is None or self._task.done() or self._loop is not loop:
            # A new event loop (a test, a restarted server) cannot use tasks or streams of an old one.
            self._subscriptions = {s for s in self._subscriptions if s.loop is loop}
            self._job_streams = {s for s in self._job_streams if s.loop is loop}
            self._loop = loop
            self._task = loop.create_task(self._run(), name="qaforge-sse-watcher")

    async def stop(self) -> None:
        """Cancel the watcher task (server shutdown); streams still open get nothing more."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close)

    def close_connection(self) -> None:
        """Close the watcher thread's database connection and forget its state, waiting for it (tests)."""
        self._executor.submit(self._close).result()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        idle_since = None
        try:
            while True:
                if self._subscriptions or self._job_streams:
                    idle_since = None
                elif idle_since is None:
                    idle_since = loop.time()
                elif loop.time() - idle_since >= self.idle_seconds:
                    break
                started = loop.time()
                job_ids = {job_id for stream in self._job_streams for job_id in stream.job_ids}
                updates, job_updates = await loop.run_in_executor(self._executor, self._tick, job_ids)
                self._fan_out(updates)
                self._fan_out_jobs(job_updates)
                watched = frozenset().union(*(s.import_ids for s in self._subscriptions))
                if watched:  # an import page is open: one more small query per tick
                    imports = await loop.run_in_executor(self._executor, self._tick_imports, watched)
                    for subscription in self._subscriptions:
                        for job_id, html in imports:
                            if job_id in subscription.import_ids:
                                subscription.offer_import(job_id, html)
                await asyncio.sleep(max(0.0, self.interval - (loop.time() - started)))
        finally:
            # No await before this point after the loop ends, so a subscriber arriving now starts a new task;
            # its first tick runs after this clean-up on the same single thread.
            if self._task is asyncio.current_task():
                self._task = None
            self._executor.submit(self._close)

    def _fan_out(self, updates: list[tuple[int, str, dict | None, bool]]) -> None:
        for story_id, html, ended, announce in updates:
            for subscription in self._subscriptions:
                if story_id in subscription.story_ids:
                    subscription.offer(story_id, html, ended, announce)
                    self.events_queued += 1

    def _fan_out_jobs(self, job_updates: dict) -> None:
        for job_id, events in job_updates.items():
            for stream in self._job_streams:
                if job_id in stream.position:
                    stream.offer(job_id, events)
                    self.events_queued += 1

    def _close(self) -> None:
        self._reset_state()
        connection.close()

    def _tick(self, job_ids: set = frozenset()) -> tuple[list[tuple[int, str, dict | None, bool]], dict]:
        self.ticks += 1
        try:
            with connection.execute_wrapper(self._queries):
                if not self._started:
                    # Start from the newest change in the database. The first read re-sends the overlap window
                    # before it: harmless (swaps are idempotent), and nothing written while the first stream
                    # was connecting is lost.
                    self._high_water = GenerationJob.objects.aggregate(m=Max("updated_at"))["m"]
                    self._start_mark = self._high_water
                    self._started = True
                since = self._jobs_since
                # Taken before the reads, so a job written while they run is read again next tick.
                self._jobs_since = self._high_water - self.overlap if self._high_water is not None else None
                job_updates = job_events.read_job_events(job_ids, since) if job_ids else {}
                return self._read_changes(), job_updates
        except DatabaseError:
            log.exception("live updates: reading changed jobs failed; retrying on the next tick")
            connection.close()  # a broken connection is reopened by the next query
            return [], {}

    def _tick_imports(self, job_ids: frozenset[str]) -> list[tuple[str, str]]:
        """The status partial of each watched import job that changed since it was last sent."""
        from stories.importing.jobs import render_status
        from stories.models import ImportJob

        try:
            with connection.execute_wrapper(self._queries):
                jobs = list(ImportJob.objects.select_related("project").filter(pk__in=job_ids))
        except DatabaseError:
            log.exception("live updates: reading import jobs failed; retrying on the next tick")
            connection.close()
            return []
        changed = []
        for job in jobs:
            key = str(job.pk)
            if self._import_seen.get(key) != job.updated_at:
                self._import_seen[key] = job.updated_at
                changed.append((key, render_status(job)))
        return changed

    def _read_changes(self) -> list[tuple[int, str, dict | None, bool]]:
        since = self._high_water - self.overlap if self._high_water is not None else None
        changed = GenerationJob.objects.all() if since is None else GenerationJob.objects.filter(updated_at__gt=since)
        # The story's version is its newest job write; the badge shows the story's latest job, which need not
        # be the job that changed. One query: changed stories -> their latest job, story and test-case count.
        version = GenerationJob.objects.filter(story_id=OuterRef("story_id")).order_by("-updated_at")
        jobs = attach_counts(
            latest_jobs_queryset()
            .filter(story_id__in=changed.values("story_id"))
            .annotate(story_version=Subquery(version.values("updated_at")[:1]))
        )
        updates = []
        for job in jobs:
            if self._high_water is None or job.story_version > self._high_water:
                self._high_water = job.story_version
            previous = self._seen.get(job.story_id)
            if previous is not None and previous[:2] == (job.pk, job.story_version):
                continue  # re-read from the overlap window, already sent
            self._seen[job.story_id] = (job.pk, job.story_version, job.status)
            self.badges_rendered += 1
            updates.append(
                (job.story_id, render_badge(job.story, job), ended_entry(job), self._announce(job, previous, since))
            )
        # Forget stories older than the window: they cannot be re-read, and a new write gives a new version.
        horizon = self._high_water - self.overlap if self._high_water is not None else None
        if horizon is not None and len(self._seen) > 1000:
            self._seen = {k: v for k, v in self._seen.items() if v[1] > horizon}
        return updates

    def _announce(self, job: GenerationJob, previous: tuple | None, since) -> bool:
        """Whether `job` just ended (ready or failed) and deserves a toast: once, never again on a later tick,
        a restart of the watcher or another page load."""
        if job.status not in TOAST_STATUSES:
            return False
        previous_status = previous[2] if previous is not None and previous[0] == job.pk else None
        if previous_status == job.status:
            return False
        if previous_status is None:
            # Not seen before: only announce it if it ended just now, not a job that ended long ago (nor one
            # that ended before this watcher started, re-read from the overlap window).
            ended = job.finished_at or job.updated_at
            if since is not None and ended <= since:
                return False
            if self._start_mark is not None and ended <= self._start_mark:
                return False
        return True


watcher = Watcher(interval=getattr(settings, "QAFORGE_SSE_POLL_SECONDS", 0.25))


# --- The endpoints ---------------------------------------------------------------------------------------------


async def request_user(request: Request):
    return await run_db(session_user, request.cookies.get(settings.SESSION_COOKIE_NAME))


def still_allowed(session_key: str, story_ids: list[int], import_ids: list[str] = ()) -> bool:
    """Is the session still signed in (not logged out, user active, password unchanged) and may its user still see
    every story of the stream (and steer its import job)? Sync: run it through run_db."""
    user = session_user(session_key)
    return (
        user is not None
        and set(visible_story_ids(user, story_ids)) == set(story_ids)
        and set(editable_import_ids(user, list(import_ids))) == set(import_ids)
    )


async def while_allowed(next_events, allowed, done=lambda: False) -> AsyncIterator[ServerSentEvent]:
    """The batches `next_events()` returns, for as long as `allowed()` (a coroutine: the stream's own question of
    who may still listen) holds, until `done()`. `allowed` is asked every QAFORGE_SSE_SESSION_CHECK_SECONDS and
    always before sending what arrived after a check fell due; when it fails this ends, sending nothing more.
    Both streams use it: the page's badges (`badge_events`) and the API's job events (`generation.job_events`)."""
    loop = asyncio.get_running_loop()
    every = settings.QAFORGE_SSE_SESSION_CHECK_SECONDS
    next_check = loop.time() + every
    while not done():
        try:
            batch = await asyncio.wait_for(next_events(), max(0.0, next_check - loop.time()))
        except TimeoutError:
            batch = []
        if loop.time() >= next_check:
            if not await allowed():
                # Signed out, token revoked or expired, deactivated or access lost: end the response. An
                # EventSource reconnects, is refused (401/404) and stops; what was pending is never sent.
                log.info("live updates: a stream ended because its session, token or access ended")
                return
            next_check = loop.time() + every
        for event in batch:
            yield event


async def badge_events(
    story_ids: list[int], session_key: str, import_ids: list[str] = ()
) -> AsyncIterator[ServerSentEvent]:
    """The events of one stream; it ends when `still_allowed` fails (see `while_allowed`)."""
    subscription = watcher.subscribe(story_ids, import_ids)  # before the initial state: no change falls between
    try:
        yield ServerSentEvent(comment="connected", retry=RECONNECT_MILLISECONDS)
        for story_id, html in await run_db(initial_badges, story_ids):
            yield ServerSentEvent(data=html, event=badge_event_name(story_id))
        for job_id, html in await run_db(initial_imports, import_ids):
            yield ServerSentEvent(data=html, event=import_event_name(job_id))
        allowed = partial(run_db, still_allowed, session_key, story_ids, import_ids)
        async for event in while_allowed(subscription.next_events, allowed):
            yield event
    finally:
        # Runs when the client goes (sse-starlette cancels the generator on http.disconnect) or the server stops.
        watcher.unsubscribe(subscription)


async def stories_stream(request: Request):
    user = await request_user(request)
    if user is None:
        return PlainTextResponse("Sign in to receive live updates.", status_code=401)
    try:
        story_ids = parse_story_ids(request.query_params.get("ids", ""))
        import_ids = parse_import_ids(request.query_params.get("import", ""))
    except ValueError as exc:
        return PlainTextResponse(str(exc), status_code=400)
    visible = await run_db(visible_story_ids, user, story_ids)
    if story_ids and not visible:  # as for pages: what the user may not see does not exist for them
        return PlainTextResponse("There are no such stories.", status_code=404)
    watched_imports = await run_db(editable_import_ids, user, import_ids)
    if import_ids and not watched_imports:
        return PlainTextResponse("There is no such import.", status_code=404)
    session_key = request.cookies.get(settings.SESSION_COOKIE_NAME)
    return EventSourceResponse(badge_events(visible, session_key, watched_imports), ping=PING_SECONDS, send_timeout=30)


async def stream_stats(request: Request):
    """Watcher counters for benchmarks and operators (staff only)."""
    user = await request_user(request)
    if user is None:
        return PlainTextResponse("Sign in first.", status_code=401)
    if not user.is_staff:
        return PlainTextResponse("Staff only.", status_code=403)
    return JSONResponse(await watcher.astats())


app = Starlette(
    routes=[
        Route("/events/stories", stories_stream, methods=["GET"]),
        Route("/events/_stats", stream_stats, methods=["GET"]),
        # The API's typed job events (generation.job_events): token or session; qaforge/asgi.py routes them here.
        Route("/api/jobs/events", job_events.job_events_stream, methods=["GET"]),
        Route("/api/jobs/{job_id}/events", job_events.job_events_stream, methods=["GET"]),
    ]
)
