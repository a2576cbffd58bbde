"""Acceptance criteria as QAForge tracks them: stable numbers (AC-1, AC-2, …), the story's revision, coverage.

- Numbers: `UserStory.acceptance_criteria` stays a plain list of texts; `criteria_numbers` runs beside it. When the
  list changes, `renumber()` keeps the number of every criterion that is still there (same text, or the same text
  edited), and gives new criteria new numbers that are never reused.
- Revision: a short content hash of the title, description and criteria; every job and saved test case records the
  revision it was generated from, so the story page can say when the story changed since.
- Coverage: a scenario lists the numbers of the criteria it covers (`Scenario.criteria`); a criterion is covered when
  at least one saved scenario of the story cites it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from rapidfuzz import fuzz
from rapidfuzz.utils import default_process

# An edited criterion keeps its number when the new text is at least this similar to the old one (rapidfuzz ratio,
# 0-100, on lower-cased text without punctuation). Measured with bench/similarity.py on the demo stories: two
# different criteria of one story score at most 58 (median 39, 94 pairs); a criterion edited (a limit changed, a
# word dropped, a clause added) scores 52-100 against its old text (5th percentile 75, median 91, 178 edits).
EDIT_SIMILARITY = 60


def label(number: int) -> str:
    return f"AC-{number}"


def revision(title: str, description: str, criteria: Iterable[str]) -> str:
    """A 12-character content hash of what a generator reads from a story."""
    text = "\x1f".join([" ".join(title.split()), description.strip(), *(" ".join(c.split()) for c in criteria)])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def renumber(
    old_texts: Sequence[str], old_numbers: Sequence[int], new_texts: Sequence[str], next_number: int
) -> tuple[list[int], int]:
    """Numbers for `new_texts` given the previous list and its numbers; returns (numbers, next unused number).

    Same text keeps its number; otherwise the most similar unmatched old criterion (at least EDIT_SIMILARITY,
    ties go to the one at the same position) lends its number; anything else gets the next new number.
    """
    if len(old_numbers) != len(old_texts):
        old_numbers = list(range(1, len(old_texts) + 1))
    next_number = max([next_number, *(n + 1 for n in old_numbers)])
    unmatched = dict(enumerate(old_texts))
    numbers: list[int | None] = [None] * len(new_texts)
    for i, text in enumerate(new_texts):
        for j, old in unmatched.items():
            if old.strip() == text.strip():
                numbers[i] = old_numbers[j]
                del unmatched[j]
                break
    for i, text in enumerate(new_texts):
        if numbers[i] is not None:
            continue
        best, best_score = None, EDIT_SIMILARITY
        for j, old in unmatched.items():
            score = fuzz.ratio(text, old, processor=default_process) + (1 if i == j else 0)
            if score >= best_score:
                best, best_score = j, score
        if best is not None:
            numbers[i] = old_numbers[best]
            del unmatched[best]
        else:
            numbers[i] = next_number
            next_number += 1
    return [int(n) for n in numbers], next_number


def changes(before: Sequence[tuple[int, str]], after: Sequence[tuple[int, str]]) -> dict[str, list[int]]:
    """What changed between two numbered criteria lists: {"edited": [3], "added": [5], "removed": [2]}."""
    old, new = dict(before), dict(after)
    return {
        "edited": [n for n in new if n in old and " ".join(old[n].split()) != " ".join(new[n].split())],
        "added": [n for n in new if n not in old],
        "removed": [n for n in old if n not in new],
    }


def covered_numbers(cited: Iterable[Iterable[int]], numbers: Iterable[int]) -> set[int]:
    """The criteria (of `numbers`) cited by at least one of the scenarios' citation lists."""
    wanted = set(numbers)
    return {n for citation in cited for n in citation if n in wanted}


def story_coverage(story) -> list[dict]:
    """Each criterion of `story` with the saved scenarios that cite it: [{"number", "label", "text", "covered_by":
    ["Test case title · scenario name"]}]. Reads story.test_cases.all() and their scenarios (prefetch them)."""
    rows = [
        {"number": n, "numbers": [n], "label": label(n), "text": text, "covered_by": []}
        for n, text in story.numbered_criteria
    ]
    by_number = {row["number"]: row for row in rows}
    for test_case in story.test_cases.all():
        for scenario in test_case.scenarios.all():
            for number in scenario.criteria or []:
                if number in by_number:
                    by_number[number]["covered_by"].append(f"{test_case.title} · {scenario.name}")
    return rows


def staleness(story) -> dict | None:
    """Whether saved test cases were generated from an older revision of the story, and what changed since:
    {"test_cases": n, "edited": [3], "added": [5], "removed": [2], "regenerate": [3, 5], "text_only": bool};
    None when every generated test case is current. Reads story.test_cases.all() with their source_job."""
    current = story.revision
    stale = [tc for tc in story.test_cases.all() if tc.story_revision and tc.story_revision != current]
    if not stale:
        return None
    now = story.numbered_criteria
    changed: dict[str, set[int]] = {"edited": set(), "added": set(), "removed": set()}
    for test_case in stale:
        job = test_case.source_job
        if job is None or not job.story_criteria:
            continue
        before = [(int(n), str(text)) for n, text in job.story_criteria]
        for kind, numbers in changes(before, now).items():
            changed[kind].update(numbers)
    result = {kind: sorted(numbers) for kind, numbers in changed.items()}
    return {
        "test_cases": len(stale),
        **result,
        "regenerate": sorted(changed["edited"] | changed["added"]),
        "text_only": not any(result.values()),
    }
