"""The endpoints: the page's badge stream and the watcher's stats (a Starlette app; `qaforge/asgi.py` routes
`/events/` and the API's job event streams here), and `while_allowed`, which ends any stream whose user may no
longer listen."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from functools import partial

from django.conf import settings
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from generation import job_events
from generation.badges import badge_event_name
from generation.events.access import (
    editable_import_ids,
    parse_import_ids,
    parse_story_ids,
    session_user,
    still_allowed,
    visible_story_ids,
)
from generation.events.db import run_db
from generation.events.initial import initial_badges, initial_imports
from generation.events.watching import import_event_name, watcher

log = logging.getLogger("qaforge.events")

PING_SECONDS = 15
RECONNECT_MILLISECONDS = 2000


async def request_user(request: Request):
    return await run_db(session_user, request.cookies.get(settings.SESSION_COOKIE_NAME))


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
