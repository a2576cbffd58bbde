"""The review dialog: open it, add the suggestions that joined it, save, discard, "Generate for this criterion",
and the stories page's review-queue button."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh, reswap, retarget, trigger_client_event

from generation import jobs, options, review, review_queue
from generation.badges import render_badge
from generation.models import GenerationJob, JobStatus
from generation.views._shared import badge_response, job_for_editing, small_action_response
from stories import permissions
from stories.toasts import toast_trigger


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
    job = job_for_editing(request, job_id)
    if job.status != JobStatus.READY:
        return _job_not_reviewable(request, job)
    # HTMX appends the review to <body> as a <dialog class="modal">, opened by app.js.
    return _render_review(request, job, review.review_formset(job), partial="review-dialog")


@require_GET
def review_joined(request: HttpRequest, job_id) -> HttpResponse:
    """The suggestions that joined an open review after it was opened ("Generate for this criterion"), as more case
    forms for the dialog to add beside the lead's edits, and the criteria afresh (review.js asks for them)."""
    job = job_for_editing(request, job_id)
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
    job = job_for_editing(request, job_id)
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
        return small_action_response(request, job, message, "info")
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
        return badge_response(job, message, "success", link=story_url)
    messages.success(request, message)
    return redirect(job.story.get_absolute_url())


@require_POST
def discard(request: HttpRequest, job_id) -> HttpResponse:
    job = job_for_editing(request, job_id)
    changed = jobs.discard_job(job)
    message = f"Discarded the suggestions for {job.story.key}." if changed else "Nothing to discard."
    return small_action_response(request, job, message, "info" if changed else "warning")


@require_POST
def extend(request: HttpRequest, job_id) -> HttpResponse:
    """ "Generate for this criterion": a small job for the given acceptance criteria whose suggestions join this
    job's review."""
    job = job_for_editing(request, job_id)
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
