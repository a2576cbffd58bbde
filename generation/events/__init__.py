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

Each submodule answers one question:

- `access`: who is asking, what they ask to watch, and what they may see — now and still (`still_allowed`);
- `initial`: what a (re)connecting page is sent first — its rows' current badges, its import job's status;
- `watching`: which jobs changed and which open streams hear of it — `Watcher`, `Subscription`, the `watcher`;
- `endpoints`: the Starlette `app` — the badge stream, the watcher's stats — and `while_allowed`, which ends a
  stream (this one or the API's job events, `generation.job_events`) whose user may no longer listen;
- `db`: how all of them reach the database off the event loop (`run_db`), counting connect-time queries.

Callers use the names re-exported here (`generation.events.watcher`, `.app`, `.run_db`, ...).
"""

from generation.events.access import parse_story_ids, session_user, visible_story_ids
from generation.events.db import run_db
from generation.events.endpoints import PING_SECONDS, RECONNECT_MILLISECONDS, app, while_allowed
from generation.events.watching import Watcher, watcher

__all__ = [
    "PING_SECONDS",
    "RECONNECT_MILLISECONDS",
    "Watcher",
    "app",
    "parse_story_ids",
    "run_db",
    "session_user",
    "visible_story_ids",
    "watcher",
    "while_allowed",
]
