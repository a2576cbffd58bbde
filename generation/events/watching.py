"""The shared watcher: which jobs changed, read once per process, and which open streams hear of it.

Database load does not grow with the number of open pages: a single `Watcher` task per process polls for jobs
changed since its high-water mark a few times a second (one query per tick), renders each changed badge once
and hands it to every stream subscribed to that story (a `Subscription`). Each stream keeps only the latest badge
per story, so a slow client never piles up stale updates. The API's job event streams (`generation.job_events`)
ride on the same watcher.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Max, OuterRef, Subquery
from sse_starlette import ServerSentEvent

from generation import job_events
from generation.badges import (
    attach_counts,
    badge_event_name,
    ended_entry,
    latest_jobs_queryset,
    render_badge,
    render_jobs_toast,
)
from generation.events.db import _Counter, connect_queries
from generation.models import GenerationJob, JobStatus

log = logging.getLogger("qaforge.events")

TOAST_EVENT = "job-finished"
TOAST_STATUSES = (JobStatus.READY, JobStatus.FAILED)


def import_event_name(job_id) -> str:
    return f"import-{job_id}"  # the same spelling as stories.importing.jobs.event_name


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
