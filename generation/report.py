"""The generation report: per generator, model and prompt version, what reviewers did with the suggestions.

This is how a lead (or we) can tell whether a prompt change made things better: a better prompt has more
suggestions saved unchanged, fewer edited and fewer deleted in review, and fewer jobs with warnings.
"""

from __future__ import annotations

from dataclasses import dataclass

from generation.models import GenerationJob, JobStatus


@dataclass
class Row:
    generator: str
    model: str
    prompt_version: str
    jobs: int = 0
    reviewed: int = 0  # jobs saved (or discarded) after a review
    with_warnings: int = 0
    suggested: int = 0  # suggestions of the reviewed jobs
    unchanged: int = 0
    edited: int = 0
    deleted: int = 0
    tokens: int = 0
    suggestions_generated: int = 0

    def share(self, count: int) -> int | None:
        return round(100 * count / self.suggested) if self.suggested else None

    @property
    def unchanged_share(self) -> int | None:
        return self.share(self.unchanged)

    @property
    def edited_share(self) -> int | None:
        return self.share(self.edited)

    @property
    def deleted_share(self) -> int | None:
        return self.share(self.deleted)

    @property
    def tokens_per_suggestion(self) -> int | None:
        return round(self.tokens / self.suggestions_generated) if self.suggestions_generated and self.tokens else None


def prompt_report(jobs=None) -> list[Row]:
    """One row per (generator, model, prompt version) over finished jobs, newest prompt versions first."""
    jobs = GenerationJob.objects.all() if jobs is None else jobs
    rows: dict[tuple, Row] = {}
    values = (
        jobs.exclude(generator="")
        .exclude(status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
        .values_list("generator", "model", "prompt_version", "review_outcome", "warnings", "token_usage", "got")
    )
    for generator, model, prompt, outcome, warnings, usage, got in values.order_by():
        key = (generator, model if generator == "gemini" else "", prompt or "")
        row = rows.get(key) or rows.setdefault(key, Row(*key))
        row.jobs += 1
        row.with_warnings += bool(warnings)
        row.tokens += int((usage or {}).get("total", 0) or 0)
        row.suggestions_generated += int((got or {}).get("test_cases", 0) or 0)
        if outcome:
            row.reviewed += 1
            row.suggested += int(outcome.get("suggested", 0))
            row.unchanged += int(outcome.get("unchanged", 0))
            row.edited += int(outcome.get("edited", 0))
            row.deleted += int(outcome.get("deleted", 0))
    return sorted(rows.values(), key=lambda r: (r.generator, r.model, r.prompt_version), reverse=True)
