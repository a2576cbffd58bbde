"""Who is asking, what they ask to watch, and what they may see.

These requests skip Django's middleware, so the stream authenticates the Django session itself, the way
`django.contrib.auth.get_user` does (session auth hash included), and shows only the stories `stories.permissions`
lets its user see. `still_allowed` asks both again while a stream is open.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from importlib import import_module

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model, load_backend
from django.core.exceptions import ValidationError
from django.utils.crypto import constant_time_compare

from stories import permissions

MAX_STORIES_PER_STREAM = 200


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


def still_allowed(session_key: str, story_ids: list[int], import_ids: list[str] = ()) -> bool:
    """Is the session still signed in (not logged out, user active, password unchanged) and may its user still see
    every story of the stream (and steer its import job)? Sync: run it through run_db."""
    user = session_user(session_key)
    return (
        user is not None
        and set(visible_story_ids(user, story_ids)) == set(story_ids)
        and set(editable_import_ids(user, list(import_ids))) == set(import_ids)
    )
