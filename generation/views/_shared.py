"""What several generation views share: where to go back to, the job a request may change, and the HTMX answer of
a small action on a job (its badge out of band, a toast, "close your dialog")."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import trigger_client_event

from generation.badges import render_badge
from generation.models import GenerationJob
from stories import permissions
from stories.toasts import toast_trigger


def next_url(request: HttpRequest) -> str:
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):
        return url
    return reverse("stories:list")


def job_for_editing(request: HttpRequest, job_id) -> GenerationJob:
    return permissions.get_editable_or_403(
        GenerationJob.objects.select_related("story__project"), request.user, pk=job_id
    )


def small_action_response(request, job, message, level) -> HttpResponse:
    if request.htmx:
        return badge_response(job, message, level)
    getattr(messages, level)(request, message)
    return redirect(next_url(request))


def badge_response(job, message: str, level: str, link: str | None = None) -> HttpResponse:
    """The HTMX answer to save/discard/cancel: the story's badge out of band, a toast, and "close your dialog".

    HX-Reswap: none keeps the requesting form in place, so the close-dialog event (fired on it after the swap)
    still bubbles up to its <dialog> and to app.js. Every event waits for the swap: a badge's Cancel form may
    already have been replaced by the live stream (the job ended first), and htmx fires after-swap events on
    <body> when the requesting element is gone, where a plain HX-Trigger would reach no one.
    """
    response = HttpResponse(render_badge(job.story, job, oob=True))
    response["HX-Reswap"] = "none"
    trigger_client_event(response, "close-dialog", after="swap")
    trigger_client_event(response, "review-queue-changed", after="swap")  # the page's "N ready to review" reloads
    return toast_trigger(response, message, level, link=link, after="swap")
