"""ASGI entry point: `/events/...` (the live-updates stream) and the API's job event streams go to a small
Starlette + sse-starlette app, the rest to Django.

Served by daphne (`daphne qaforge.asgi:application`). A stream is a long-lived async response that must not
tie up one of Django's sync threads per open page, hence its own small app; it skips Django's middleware, so each
stream authenticates itself — the Django session, or an API token for the job streams — and re-checks that while
open (see generation.events and generation.job_events).
"""

import os
import re

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qaforge.settings")
django_application = get_asgi_application()  # sets Django up; generation.events needs models and settings

from generation import events  # noqa: E402

EVENTS_PREFIX = "/events/"
# The API's job event streams (`/api/jobs/<id>/events`, `/api/jobs/events?ids=`) are long-lived too.
API_JOB_EVENTS = re.compile(r"^/api/jobs/(?:[^/]+/)?events$")


async def lifespan(scope, receive, send) -> None:
    """Answer lifespan for servers that send it (uvicorn does, daphne does not); Django itself refuses it."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await events.watcher.stop()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def application(scope, receive, send) -> None:
    if scope["type"] == "http" and (scope["path"].startswith(EVENTS_PREFIX) or API_JOB_EVENTS.match(scope["path"])):
        await events.app(scope, receive, send)
    elif scope["type"] == "lifespan":
        await lifespan(scope, receive, send)
    else:
        await django_application(scope, receive, send)
