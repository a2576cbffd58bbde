"""Pages and dialogs of generation: the generate dialog, queueing, the review dialog, save/discard/cancel.

Every view answers an HTMX request with a fragment (or an empty body plus HX-Trigger toasts) and a plain request
with a full page or a redirect and a django message, so the basics work without JavaScript.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh, reswap, retarget, trigger_client_event

from generation import engine, jobs, options, review, review_queue, runs
from generation import report as generation_report
from generation.badges import render_badge
from generation.models import GenerationJob, JobStatus
from stories import permissions
from stories.models import TestType, UserStory
from stories.toasts import toast_trigger


def _next_url(request: HttpRequest) -> str:
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):
        return url
    return reverse("stories:list")


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
        "next": _next_url(request),
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
    return redirect(_next_url(request))


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


def _job_for_editing(request: HttpRequest, job_id) -> GenerationJob:
    return permissions.get_editable_or_403(
        GenerationJob.objects.select_related("story__project"), request.user, pk=job_id
    )


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


def _review_context(job: GenerationJob, formset, *, confirm_uncovered: bool = False) -> dict:
    criteria = review.coverage(job, formset)
    total = len(formset.forms)
    kept = review.kept_count(formset)
    return {
        "job": job,
        "story": job.story,
        "formset": formset,
        "criteria": criteria,
        "gaps": review.uncovered(criteria),
        "covered_count": len(criteria) - len(review.uncovered(criteria)),
        "confirm_uncovered": confirm_uncovered,
        "errors": review.error_summary(formset) if formset.is_bound else [],
        "kept_count": kept,
        "total_count": total,
    }


def _render_review(request, job, formset, partial: str = "review-form", **extra) -> HttpResponse:
    # An invalid save re-renders only the form (it swaps itself inside its dialog), with status 200 so htmx swaps it.
    template = f"generation/review.html#{partial}" if request.htmx else "generation/review.html"
    note = extra.pop("saved_note", "")
    context = {**_review_context(job, formset, **extra), "queue": review_queue.around(request.user, job)}
    context["saved_note"] = note
    return render(request, template, context)


@require_GET
def review_queue_button(request: HttpRequest) -> HttpResponse:
    """The stories page's "N stories ready to review" button, reloaded when a job ends or a review is saved."""
    return render(request, "generation/review_queue.html#review-queue", {"queue": review_queue.summary(request.user)})


@require_GET
def review_job(request: HttpRequest, job_id) -> HttpResponse:
    job = _job_for_editing(request, job_id)
    if job.status != JobStatus.READY:
        return _job_not_reviewable(request, job)
    # HTMX appends the review to <body> as a <dialog class="modal">, opened by app.js.
    return _render_review(request, job, review.review_formset(job), partial="review-dialog")


@require_GET
def review_joined(request: HttpRequest, job_id) -> HttpResponse:
    """The suggestions that joined an open review after it was opened ("Generate for this criterion"), as more case
    forms for the dialog to add beside the lead's edits, and the criteria afresh (review.js asks for them)."""
    job = _job_for_editing(request, job_id)
    formset = review.joined_formset(job, request.GET) if job.status == JobStatus.READY else None
    if formset is None:
        return HttpResponse(status=204)  # saved or discarded meanwhile, or a malformed question: nothing to add
    context = {"job": job, "story": job.story, "formset": formset, "criteria": review.criteria(job)}
    return render(request, "generation/review.html#review-joined", context)


def _job_not_reviewable(request, job) -> HttpResponse:
    message = {
        JobStatus.SAVED: f"These suggestions for {job.story.key} were already saved.",
        JobStatus.DISCARDED: f"These suggestions for {job.story.key} were discarded.",
    }.get(job.status, f"The job for {job.story.key} is {job.get_status_display().lower()}, not ready to review.")
    if request.htmx:
        # Nothing to swap: keep whatever form asked, and close its dialog (the job moved on elsewhere).
        response = HttpResponse(status=200)
        response["HX-Reswap"] = "none"
        trigger_client_event(response, "close-dialog", after="swap")
        return toast_trigger(response, message, "warning", after="swap")
    messages.warning(request, message)
    return redirect(job.story.get_absolute_url())


@require_POST
def save(request: HttpRequest, job_id) -> HttpResponse:
    job = _job_for_editing(request, job_id)
    if job.status == JobStatus.SAVED:
        return _saved_response(request, job, list(job.saved_test_cases.all()))
    if job.status != JobStatus.READY:
        return _job_not_reviewable(request, job)
    formset = review.review_formset(job, request.POST)
    if not formset.is_valid():
        response = _render_review(request, job, formset)
        count = len(review.error_summary(formset))
        message = f"{count} problem{'s' if count != 1 else ''} to fix before saving; nothing was saved."
        return toast_trigger(response, message, "error", key="review-errors") if request.htmx else response
    gaps = review.uncovered(review.coverage(job, formset))
    if gaps and formset.kept() and not request.POST.get("confirm_uncovered"):
        return _render_review(request, job, formset, confirm_uncovered=True)
    following = review_queue.around(request.user, job)["next"] if request.POST.get("then") == "next" else None
    try:
        saved, set_aside = jobs.save_reviewed(job, formset.edits(), user=request.user)
    except jobs.JobStateError:  # discarded or cancelled in another tab meanwhile
        job.refresh_from_db()
        return _job_not_reviewable(request, job)
    if job.status == JobStatus.DISCARDED:  # every suggestion was deleted: saving nothing is a discard
        message = f"Nothing was kept, so the suggestions for {job.story.key} were discarded."
        return _small_action_response(request, job, message, "info")
    if following and request.htmx:
        return _save_and_next(request, job, saved, following)
    return _saved_response(request, job, saved, set_aside)


def _save_and_next(request, job, saved, following) -> HttpResponse:
    """*Save all and next*: the next story's review replaces this dialog; the saved story's badge goes out of band."""
    next_job = GenerationJob.objects.filter(pk=following, status=JobStatus.READY).select_related("story__project")
    next_job = next_job.first()
    if next_job is None or not permissions.can_edit(request.user, next_job.story):
        return _saved_response(request, job, saved)
    count = len(saved)
    # Said in the next dialog itself: a toast raised now would sit in the dialog this answer replaces.
    note = f"Saved {count} test case{'s' if count != 1 else ''} to {job.story.key}."
    formset = review.review_formset(next_job)
    response = _render_review(request, next_job, formset, partial="review-dialog", saved_note=note)
    response.content += render_badge(job.story, job, oob=True).encode()
    retarget(response, "closest dialog")
    reswap(response, "outerHTML")
    return trigger_client_event(response, "review-queue-changed")


def _saved_response(request, job, saved, set_aside: GenerationJob | None = None) -> HttpResponse:
    count = len(saved)
    message = f"Saved {count} test case{'s' if count != 1 else ''} to {job.story.key}."
    if set_aside is not None:
        waiting = set_aside.suggestions.count()
        plural = "s" if waiting != 1 else ""
        message += f" {waiting} suggestion{plural} that arrived during the review wait in a new review."
    story_url = job.story.get_absolute_url()
    if request.htmx and urlsplit(request.htmx.current_url_abs_path or "").path == story_url:
        # Saved from the story's own page: show it again with its new test cases (the toast rides along).
        messages.success(request, message)
        return HttpResponseClientRefresh()
    if request.htmx:
        return _badge_response(job, message, "success", link=story_url)
    messages.success(request, message)
    return redirect(job.story.get_absolute_url())


@require_POST
def discard(request: HttpRequest, job_id) -> HttpResponse:
    job = _job_for_editing(request, job_id)
    changed = jobs.discard_job(job)
    message = f"Discarded the suggestions for {job.story.key}." if changed else "Nothing to discard."
    return _small_action_response(request, job, message, "info" if changed else "warning")


@require_POST
def cancel(request: HttpRequest, job_id) -> HttpResponse:
    job = _job_for_editing(request, job_id)
    changed = jobs.cancel_job(job)
    message = (
        f"Cancelled generation for {job.story.key}." if changed else f"{job.story.key}: the job had already ended."
    )
    return _small_action_response(request, job, message, "info" if changed else "warning")


def _small_action_response(request, job, message, level) -> HttpResponse:
    if request.htmx:
        return _badge_response(job, message, level)
    getattr(messages, level)(request, message)
    return redirect(_next_url(request))


def _badge_response(job, message: str, level: str, link: str | None = None) -> HttpResponse:
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


@require_POST
def extend(request: HttpRequest, job_id) -> HttpResponse:
    """ "Generate for this criterion": a small job for the given acceptance criteria whose suggestions join this
    job's review."""
    job = _job_for_editing(request, job_id)
    if job.status != JobStatus.READY:
        return _job_not_reviewable(request, job)
    numbers = sorted({int(n) for n in request.POST.getlist("criteria") if n.isdigit()})
    try:
        child, created = jobs.queue_generation(
            job.story,
            user=request.user,
            test_cases=max(1, min(len(numbers), options.MAX_TEST_CASES)),
            scenarios_per_test=job.scenarios_per_test,
            test_types=job.test_types or list(options.DEFAULT_TEST_TYPES),
            criteria=numbers or [0],
            extends=job,
        )
    except jobs.QueueError as error:
        return _refused(request, job, str(error))
    if not created:
        return _refused(request, job, "A job for this story is already queued or running; try again when it ends.")
    labels = ", ".join(f"AC-{n}" for n in numbers)
    message = f"Generating for {labels}; the new suggestions join this review."
    if request.htmx:
        (row,) = [c for c in review.criteria(job) if c.number == numbers[0]]  # queued: its job is on its way
        response = render(request, "generation/review.html#criterion", {"c": row, "job": job})
        return toast_trigger(response, message, "info")
    messages.info(request, message)
    return redirect(job.story.get_absolute_url())


def _refused(request, job, message: str) -> HttpResponse:
    if request.htmx:
        response = HttpResponse(status=200)
        response["HX-Reswap"] = "none"
        return toast_trigger(response, message, "warning")
    messages.warning(request, message)
    return redirect(job.story.get_absolute_url())


@require_GET
def report(request: HttpRequest) -> HttpResponse:
    """Staff: per generator, model and prompt version, what reviewers did with the suggestions."""
    if not request.user.is_staff:
        raise PermissionDenied("The generation report is for staff.")
    return render(request, "generation/report.html", {"rows": generation_report.prompt_report()})
