"""The generate dialog (with its estimate) and queueing generation for the selected stories."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from generation import engine, jobs, options, runs
from generation.badges import render_badge
from generation.models import GenerationJob
from generation.views._shared import next_url
from stories import permissions
from stories.models import TestType, UserStory
from stories.toasts import toast_trigger


def _story_keys(request: HttpRequest) -> list[str]:
    data = request.POST if request.method == "POST" else request.GET
    keys = data.getlist("stories") or data.getlist("selected")
    return list(dict.fromkeys(k.strip() for k in keys if k.strip()))


@require_GET
def generate_form(request: HttpRequest) -> HttpResponse:
    keys = _story_keys(request)
    stories = _stories_to_generate(request, keys)
    defaults = options.dialog_defaults()
    try:  # the estimate follows the options as the lead changes them (the dialog asks again on change)
        chosen = options.GenerationOptions.from_form(request.GET) if "test_cases" in request.GET else None
    except options.OptionsError:
        chosen = None
    chosen = chosen or options.GenerationOptions.parse(
        test_cases=defaults["test_cases"],
        scenarios_per_test=defaults["scenarios_per_test"],
        test_types=defaults["selected_types"],
    )
    generator = engine.active_generator()
    context = {
        "stories": stories,
        "missing": [k for k in keys if k not in {s.key for s in stories}],
        "test_types": TestType.choices,
        **defaults,
        "generator": generator,
        "estimate": _estimate_text(len(stories), chosen, generator),
        "next": next_url(request),
    }
    if request.htmx and request.htmx.target == "generate-estimate":
        return render(request, "generation/generate.html#generate-estimate", context)
    # HTMX appends the answer to <body>: a <dialog class="modal"> that app.js opens, and removes once closed.
    template = "generation/generate.html#generate-dialog" if request.htmx else "generation/generate.html"
    return render(request, template, context)


def _estimate_text(stories: int, chosen, generator: dict) -> str:
    if not stories:
        return ""
    if generator["generator"] != "gemini":
        return "The offline generator makes no model calls: ready in a moment."
    request = engine.GenerationRequest(
        test_cases=chosen.test_cases, scenarios_per_test=chosen.scenarios_per_test, test_types=tuple(chosen.types)
    )
    guess = runs.estimate(stories, request)
    seconds = guess["seconds"]
    duration = f"{max(1, round(seconds))} s" if seconds < 90 else f"{round(seconds / 60)} min"
    calls, ahead = guess["calls"], guess["ahead_calls"]
    text = f"About {calls} model call{'s' if calls != 1 else ''} · about {duration}"
    if ahead:
        text += f" with {ahead} call{'s' if ahead != 1 else ''} queued ahead"
    return f"{text}, set by the {guess['limited_by']} limit" if guess["limited_by"] else text


@require_POST
def queue(request: HttpRequest) -> HttpResponse:
    keys = _story_keys(request)
    stories = {story.key: story for story in _stories_to_generate(request, keys)}  # permissions first
    queued, refused = [], []
    try:
        chosen = options.GenerationOptions.from_form(request.POST)
    except options.OptionsError as error:
        chosen = None
        refused.append(("", str(error)))  # said once, not per story
    if not keys:
        refused.append(("", "Select at least one story."))
    with jobs.enqueue_together() as sending:  # one round trip to the broker for the whole selection
        for key in keys:
            if key not in stories:
                refused.append((key, f"There is no story with the key {key!r}."))
                continue
            if chosen is None:
                continue
            try:
                job, _created = jobs.queue_generation(
                    stories[key], user=request.user, options=chosen, criteria=_criteria(request, keys)
                )
                queued.append(job)
            except jobs.QueueError as error:
                refused.append((key, str(error)))
    for job in sending.failed:
        queued.remove(job)
        refused.append((job.story.key, jobs.QUEUE_UNREACHABLE))

    message, level, details = _queue_summary(queued, refused)
    if request.htmx:
        # The new badges go out-of-band (the SSE stream would bring them a moment later anyway).
        response = HttpResponse("".join(render_badge(job.story, job, oob=True) for job in queued))
        return toast_trigger(response, message, level, details=details, key="queued")
    messages.add_message(request, getattr(messages, level.upper()), " ".join([message, "; ".join(details)]).strip())
    return redirect(next_url(request))


def _criteria(request: HttpRequest, keys: list[str]) -> list[str]:
    """AC numbers to narrow a one-story job to (the story page's "Generate for this criterion")."""
    return [n for n in request.POST.getlist("criteria") if n.isdigit()] if len(keys) == 1 else []


def _stories_to_generate(request: HttpRequest, keys: list[str]) -> list[UserStory]:
    """The stories among `keys` the user may see; PermissionDenied if any of them they may not change (an
    unknown or hidden key is simply missing, so the answer reveals nothing about other projects)."""
    stories = list(permissions.stories_visible_to(request.user).filter(key__in=keys).select_related("project"))
    read_only = [story.key for story in stories if not permissions.can_edit(request.user, story)]
    if read_only:
        raise PermissionDenied(f"You can read {', '.join(read_only)} but not generate tests for it.")
    return stories


def _queue_summary(queued: list[GenerationJob], refused: list[tuple[str, str]]) -> tuple[str, str, list[str]]:
    """One toast for a bulk action: what was queued, and every story that was not with its reason."""
    details = [f"{key}: {reason}" if key else reason for key, reason in refused]
    if len(queued) == 1:
        started = f"Generating tests for {queued[0].story.key}"
    else:
        started = f"Generating tests for {len(queued)} stories"
    if not refused:
        return started, "info", []
    if queued:
        return f"{started} · {len(refused)} could not be queued:", "warning", details
    if len(details) == 1:
        return details[0], "error", []
    return f"{len(details)} stories could not be queued:", "error", details
