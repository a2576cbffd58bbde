"""What a review keeps: edit or delete one suggestion of a job ready to review, and save the reviewed suggestions
as the story's test cases (or discard the job when nothing is kept)."""

from __future__ import annotations

import uuid

from django.db import transaction

from generation import jobs, review
from generation.jobs.errors import JobStateError, SuggestionErrors
from generation.jobs.state import _all_deleted, _finish
from generation.models import GenerationJob, JobStatus, SuggestedTestCase
from stories import gherkin, history
from stories.models import Scenario, TestCase


def _was_edited(suggestion: SuggestedTestCase, title, test_type, priority, scenarios) -> bool:
    def shape(items) -> list[tuple]:
        return [
            (item.name.strip(), gherkin.normalise_steps(item.steps), gherkin.clean_tags(item.tags)) for item in items
        ]

    original = [
        gherkin.ScenarioText(s.get("name", ""), s.get("steps", ""), s.get("tags", [])) for s in suggestion.scenarios
    ]
    before = (suggestion.title.strip(), suggestion.test_type, suggestion.priority, shape(original))
    return before != (title, test_type, priority, shape(scenarios))


def _checked(job: GenerationJob, suggestions: list[SuggestedTestCase], edits: list[dict]) -> list[tuple]:
    """The suggestions with the reviewer's `edits` applied, validated by the review's own formset
    (`generation.review.edits_formset`: the page, the API and the commands check the same rules with the same
    messages). Returns (suggestion, title, test_type, priority, [ScenarioText], [cited AC numbers per scenario]) of
    each one kept; raises SuggestionErrors."""
    known = {s.pk for s in suggestions}
    unknown = {int(e["id"]): {-1: [f"This job has no suggestion {e['id']}."]} for e in edits if e["id"] not in known}
    if unknown:
        raise SuggestionErrors(unknown)
    formset = review.edits_formset(job, edits, suggestions)
    if not formset.is_valid():
        raise SuggestionErrors(review.problems_by_suggestion(formset))
    plans = []
    for form, scenario_forms in formset.kept():
        data = form.cleaned_data
        scenarios = [
            gherkin.ScenarioText(f.cleaned_data["name"].strip(), f.instance.steps, f.instance.tags)
            for f in scenario_forms
        ]
        cites = [f.cleaned_data.get("criteria") or [] for f in scenario_forms]
        plans.append(
            (form.suggestion_obj, data["title"].strip(), data["test_type"], data["priority"], scenarios, cites)
        )
    return plans


def _edit_list(edits) -> list[dict]:
    """Edits as a list of dicts with an integer "id"; SuggestionErrors for anything else (a program's mistake)."""
    checked = []
    for edit in edits or []:
        try:
            checked.append({**edit, "id": int(edit["id"])})
        except (TypeError, KeyError, ValueError):
            raise SuggestionErrors({0: {-1: ['Each edit needs the "id" of a suggestion of this job.']}}) from None
    return checked


def edit_suggestion(job: GenerationJob, suggestion_id: int, edit: dict) -> SuggestedTestCase:
    """Change one suggestion of a job that is ready to review (title, test_type, priority, scenarios), checked as
    saving checks it; raises SuggestionErrors (changing nothing) or JobStateError."""
    with transaction.atomic():
        locked = GenerationJob.objects.select_for_update().get(pk=job.pk)
        if locked.status != JobStatus.READY:
            raise JobStateError(f"Only a job that is ready to review can be edited (this one is {locked.status}).")
        suggestion = locked.suggestions.get(pk=suggestion_id)
        ((_, title, test_type, priority, scenarios, cites),) = _checked(
            locked, [suggestion], [{**edit, "id": suggestion.pk, "delete": False}]
        )
        suggestion.title, suggestion.test_type, suggestion.priority = title, test_type, priority
        suggestion.scenarios = [
            {"name": s.name, "steps": s.steps, "tags": list(s.tags), "criteria": c}
            for s, c in zip(scenarios, cites, strict=True)
        ]
        suggestion.save()
        locked.save(update_fields=["updated_at"])  # the live badge and event stream see a change
    return suggestion


def delete_suggestion(job: GenerationJob, suggestion_id: int) -> None:
    """Remove one suggestion from a job that is ready to review; the last one cannot go (discard the job instead)."""
    with transaction.atomic():
        locked = GenerationJob.objects.select_for_update().get(pk=job.pk)
        if locked.status != JobStatus.READY:
            raise JobStateError(f"Only a job that is ready to review can be edited (this one is {locked.status}).")
        suggestion = locked.suggestions.get(pk=suggestion_id)
        if locked.suggestions.count() == 1:
            raise JobStateError("This is the job's last suggestion: discard the job instead.")
        suggestion.delete()
        locked.save(update_fields=["updated_at"])


def save_reviewed(job: GenerationJob, edits: list[dict], user=None) -> tuple[list[TestCase], GenerationJob | None]:
    """Save what the review dialog showed. Suggestions the dialog never showed (they joined the review after it was
    opened, from "Generate for this criterion") are neither saved nor lost: they move to a new job, ready to review.
    Returns (saved test cases, that new job or None)."""
    shown = {int(e["id"]) for e in edits}
    with transaction.atomic():
        locked = GenerationJob.objects.select_for_update().get(pk=job.pk)
        unseen = list(locked.suggestions.exclude(pk__in=shown).values_list("pk", flat=True))
        set_aside = None
        if unseen and locked.status == JobStatus.READY:
            set_aside = GenerationJob.objects.get(pk=locked.pk)
            set_aside.pk, set_aside.task_id, set_aside.review_outcome = uuid.uuid4(), "", {}
            set_aside.extends = None
            set_aside.warnings, set_aside.asked, set_aside.got = [], {}, {}
            set_aside.phase = "Ready to review (joined an earlier review after it was opened)"
            set_aside.queued_at = jobs._now()
            set_aside.save(force_insert=True)
            SuggestedTestCase.objects.filter(pk__in=unseen).update(job=set_aside)
        saved = save_suggestions(job, edits, user=user)
    return saved, set_aside


def save_suggestions(job: GenerationJob, edits: list[dict] | None = None, user=None) -> list[TestCase]:
    """Turn the reviewed suggestions into test cases of the story, in one transaction, and mark the job saved.

    `edits` (optional) is a list of {"id": suggestion id, "delete": bool, "title", "test_type", "priority",
    "scenarios": [{"name", "steps", "tags", "delete"}]}; suggestions not mentioned are saved as suggested.
    Every path (the review page, the API, `review_jobs`, `generate_tests`) validates through the review's formset
    (`_checked`); SuggestionErrors (saving nothing) lists every problem, as the review page does. Calling it again on a
    saved job creates nothing and returns the test cases saved the first time. Keeping nothing is a discard: the
    job is marked discarded (never "saved with 0 test cases") and [] is returned.
    """
    edits = _edit_list(edits)
    with transaction.atomic():
        locked = GenerationJob.objects.select_for_update().get(pk=job.pk)
        if locked.status == JobStatus.SAVED:
            return list(locked.saved_test_cases.all())
        if locked.status != JobStatus.READY:
            raise JobStateError(f"Only a job that is ready to review can be saved (this one is {locked.status}).")
        suggestions = list(locked.suggestions.all())
        plans = _checked(locked, suggestions, edits)
        if not plans:
            _finish(
                locked.pk,
                JobStatus.DISCARDED,
                only_if=(JobStatus.READY,),
                phase="Discarded: nothing was kept",
                review_outcome=_all_deleted(len(suggestions)),
            )
            SuggestedTestCase.objects.filter(job_id=locked.pk).delete()
            jobs._transition(job.pk, "discarded", reason="saved with nothing kept")
            job.refresh_from_db()
            return []
        saved = []
        saver = user if getattr(user, "is_authenticated", False) else None
        edited = 0
        # History: every test case and scenario saved here is recorded as the reviewer's, linked to the job.
        with history.recorded_as(saver, f"saved from review of job {locked.pk}"):
            for suggestion, title, test_type, priority, scenarios, cites in plans:
                review = "edited" if _was_edited(suggestion, title, test_type, priority, scenarios) else "unchanged"
                edited += review == "edited"
                test_case = TestCase.objects.create(
                    story_id=locked.story_id,
                    title=title,
                    objective=suggestion.objective,
                    preconditions=suggestion.preconditions,
                    test_type=test_type,
                    priority=priority,
                    author=saver,
                    source_job=locked,
                    generator=locked.generator,
                    model_name=locked.model,
                    model_version=locked.model_version,
                    prompt_version=locked.prompt_version,
                    story_revision=locked.story_revision,
                    token_usage=locked.token_usage,
                    requested_by_id=locked.requested_by_id,
                    generated_at=locked.finished_at,
                    review=review,
                )
                # Validated above; bulk_create skips Scenario.save's second validation (and its coverage signal).
                rows = Scenario.objects.bulk_create(
                    Scenario(test_case=test_case, position=i, name=s.name, steps=s.steps, tags=s.tags, criteria=c)
                    for i, (s, c) in enumerate(zip(scenarios, cites, strict=True))
                )
                history.record_bulk(Scenario, rows, update=False)
                saved.append(test_case)
        locked.story.refresh_coverage()
        suggested = len(suggestions)
        locked.review_outcome = {
            "suggested": suggested,
            "unchanged": len(saved) - edited,
            "edited": edited,
            "deleted": suggested - len(saved),
        }
        locked.status = JobStatus.SAVED
        locked.saved_by, locked.saved_at = saver, jobs._now()
        locked.phase = f"Saved {len(saved)} test case{'s' if len(saved) != 1 else ''}"
        locked.save(update_fields=["status", "phase", "saved_by", "saved_at", "review_outcome"])
    jobs._transition(job.pk, "saved", test_cases=len(saved))
    job.refresh_from_db()
    return saved
