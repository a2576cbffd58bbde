"""Toasts: one partial (`templates/toast.html#toast`) whichever path shows them.

- a Django message on the next page (base.html renders each message through the partial),
- an HTMX answer's `HX-Trigger: {"toast": {"html": ..., "level": ..., "message": ...}}` (`toast_trigger`),
  whose `html` static/app.js inserts as is,
- the live stream's `job-finished` event (`generation.badges.render_jobs_toast`).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.http import HttpResponse
from django.template.loader import render_to_string
from django_htmx.http import trigger_client_event

TOAST_TEMPLATE = "toast.html#toast"
LEVELS = {"success", "info", "warning", "error"}


def toast_context(
    message: str,
    level: str = "info",
    *,
    details: Iterable[str] = (),
    link: str | None = None,
    link_label: str = "Open",
    link_hx: bool = False,
    key: str = "",
) -> dict:
    """The partial's context. `details` are extra lines (e.g. every story a bulk action refused); a `key` makes a
    newer toast replace the one showing under the same key; `link_hx` opens the link as a dialog."""
    if level not in LEVELS:
        raise ValueError(f"toast level must be one of {sorted(LEVELS)}, not {level!r}")
    return {
        "level": level,
        "message": str(message),
        "details": [str(line) for line in details],
        "link": link,
        "link_label": link_label,
        "link_hx": link_hx,
        "key": key,
    }


def render_toast(context: dict) -> str:
    return render_to_string(TOAST_TEMPLATE, context)


def toast_trigger(
    response: HttpResponse,
    message: str,
    level: str = "success",
    link: str | None = None,
    *,
    details: Iterable[str] = (),
    key: str = "",
    after: str = "receive",
) -> HttpResponse:
    """Raise one toast with `response` (merged with its other HX-Trigger events) and return the response.

    One toast per response: a bulk action summarises (see `details`) rather than raising several, which
    HX-Trigger could not carry anyway (one value per event name). `after="swap"` (HX-Trigger-After-Swap) for a
    request whose element may be gone by the time the answer arrives: htmx then fires the event on <body>, while a
    plain HX-Trigger on a detached element reaches no listener.
    """
    context = toast_context(message, level, details=details, link=link, key=key)
    params = {"level": level, "message": context["message"], "html": render_toast(context)}
    if context["details"]:
        params["details"] = context["details"]
    if link:
        params["link"] = str(link)
    return trigger_client_event(response, "toast", params, after=after)
