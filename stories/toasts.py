"""Toasts raised by HTMX responses: an `HX-Trigger: {"toast": {...}}` header that static/app.js turns into a toast."""

from __future__ import annotations

from django.http import HttpResponse
from django_htmx.http import trigger_client_event

LEVELS = {"success", "info", "warning", "error"}


def toast_trigger(
    response: HttpResponse, message: str, level: str = "success", link: str | None = None
) -> HttpResponse:
    """Add a toast to `response` (merged with any other HX-Trigger events already set) and return the response."""
    if level not in LEVELS:
        raise ValueError(f"toast level must be one of {sorted(LEVELS)}, not {level!r}")
    params = {"level": level, "message": str(message)}
    if link:
        params["link"] = str(link)
    return trigger_client_event(response, "toast", params)
