"""Recording a finished run: its suggestions, what is missing, and its provenance, onto the job (or onto the
review it extends). Called by `generation.runs` inside the transaction that holds the job's row."""

from __future__ import annotations

from django.utils import timezone

from generation.models import GenerationJob, JobStatus, SuggestedTestCase


def suggestion_rows(job: GenerationJob, suggestions, start: int = 0) -> list[SuggestedTestCase]:
    """Unsaved SuggestedTestCase rows for the engine's suggestions, positioned from `start`."""
    return [
        SuggestedTestCase(
            job=job,
            position=start + i,
            title=s.title[:300],
            objective=s.objective,
            preconditions=s.preconditions,
            test_type=s.test_type,
            priority=s.priority,
            scenarios=[
                {"name": sc.name, "steps": sc.steps, "tags": list(sc.tags), "criteria": list(sc.criteria)}
                for sc in s.scenarios
            ],
        )
        for i, s in enumerate(suggestions)
    ]


def record_provenance(job: GenerationJob, report: dict) -> None:
    """Copy what ran and what it read from the engine's report onto the job (and from there onto saved cases)."""
    job.report = report
    job.generator = report.get("generator", job.generator)
    job.model = report.get("model", job.model)
    job.model_version = (report.get("model_version") or "")[:100]
    job.prompt_version = (report.get("prompt_version") or "")[:40]
    job.story_revision = (report.get("story_revision") or "")[:12]
    job.story_criteria = report.get("story_criteria") or []
    job.token_usage = report.get("usage") or {}


def join_review(current: GenerationJob, result) -> bool:
    """Add an extension job's suggestions to the review it extends, if that review is still open, and delete the
    extension (its report is kept in the review's). False: the extended job moved on; `current` stays its own."""
    parent = GenerationJob.objects.select_for_update().filter(pk=current.extends_id).first()
    if parent is None or parent.status != JobStatus.READY:
        return False
    start = (parent.suggestions.order_by("-position").values_list("position", flat=True).first() or 0) + 1
    SuggestedTestCase.objects.bulk_create(suggestion_rows(parent, result.suggestions, start))
    usage = dict(parent.token_usage or {})
    for name, value in (result.report.get("usage") or {}).items():
        usage[name] = usage.get(name, 0) + value
    parent.token_usage = usage
    parent.report = {**parent.report, "extensions": [*parent.report.get("extensions", []), result.report]}
    # What the extension left out is the review's shortfall too (its badge, header and API say so).
    asked_for = ", ".join(f"AC-{n}" for n in current.criteria or []) or "the criteria"
    parent.warnings = [*(parent.warnings or []), *(f"Generating for {asked_for}: {w}" for w in result.warnings)]
    if parent.asked and result.asked:
        parent.asked = {k: parent.asked.get(k, 0) + result.asked.get(k, 0) for k in {*parent.asked, *result.asked}}
        parent.got = {k: (parent.got or {}).get(k, 0) + result.got.get(k, 0) for k in {*parent.asked, *result.asked}}
    parent.finished_at = timezone.now()  # the page's live stream announces the review again
    parent.save()
    current.delete()
    return True


def store_ready(current: GenerationJob, result) -> None:
    """A run that produced suggestions: replace any earlier ones (a retried run), note what is missing."""
    SuggestedTestCase.objects.filter(job=current).delete()
    SuggestedTestCase.objects.bulk_create(suggestion_rows(current, result.suggestions))
    current.status = JobStatus.READY
    current.warnings = list(result.warnings)
    current.asked, current.got = dict(result.asked), dict(result.got)
    current.phase = "Ready to review"
    current.progress = 100
