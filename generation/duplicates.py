"""Suggestions that repeat what the story already has: a scenario whose steps read like a saved scenario's, and a
suggested test case all of whose scenarios do. The review flags them ("looks like TC-12 · Login with a valid
code") and skips them by default; the lead can keep them.

Two scenarios' steps are compared after normalising (lower case; Gherkin keywords, punctuation and small words
like "the" dropped) with rapidfuzz's `token_sort_ratio` (0-100, word order ignored), and only when they name the
same numbers: "49 items" and "51 items" are different boundary tests however alike the rest reads. The threshold
comes from `bench/similarity.py` (see SCENARIO_SIMILARITY).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz, process

# A suggested scenario repeats a saved one when it scores at least this. Measured with bench/similarity.py on the
# offline generator's scenarios for the 20 demo stories (10 test cases x 5 scenarios each): 12,219 pairs of
# different scenarios of one story with the same numbers score up to 98.9 — they differ in a word or two that
# changes the situation ("has never done this before" / "has done this before"); at 99 none is flagged, while every
# copy that only changes small words, step order or keywords is (100%), and 61% of copies with one character typed
# wrong (11% of those with a content word replaced). Lower thresholds flag different scenarios (98: 66 pairs,
# 95: 151), and a flagged scenario is skipped by default, so the threshold favours precision.
SCENARIO_SIMILARITY = 99

_KEYWORD = re.compile(r"^\s*(given|when|then|and|but|\*)\s+", re.IGNORECASE | re.MULTILINE)
_PUNCTUATION = re.compile(r"[^\w\s]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_SMALL_WORDS = frozenset(
    "a an the is are be to of in on for with and or i see that they their them it its this as at by from has have "
    "was were will".split()
)


def normalise(steps: str) -> str:
    """Steps as compared: lower case, no keywords, punctuation or small words, single spaces."""
    text = _PUNCTUATION.sub(" ", _KEYWORD.sub("", steps.lower()))
    return " ".join(word for word in text.split() if word not in _SMALL_WORDS)


def numbers(steps: str) -> list[str]:
    return sorted(_NUMBER.findall(steps))


def similarity(a: str, b: str) -> float:
    """How alike two scenarios' steps read (0-100); 0 when they name different numbers."""
    if numbers(a) != numbers(b):
        return 0.0
    return fuzz.token_sort_ratio(normalise(a), normalise(b))


@dataclass(frozen=True)
class Saved:
    test_case_id: int
    test_case_title: str
    scenario_name: str

    @property
    def label(self) -> str:
        return f"TC-{self.test_case_id} · {self.test_case_title}"


@dataclass(frozen=True)
class Match:
    saved: Saved
    score: float


def saved_scenarios(story) -> tuple[list[str], list[Saved]]:
    """The story's saved scenarios' steps, with where each comes from (one query)."""
    from stories.models import Scenario

    rows = Scenario.objects.filter(test_case__story=story).values_list(
        "steps", "name", "test_case_id", "test_case__title"
    )
    texts, where = [], []
    for steps, name, case_id, title in rows:
        texts.append(steps)
        where.append(Saved(case_id, title, name))
    return texts, where


def best_match(steps: str, texts: list[str], where: list[Saved]) -> Match | None:
    """The saved scenario these steps repeat, if any."""
    if not texts:
        return None
    found = process.extractOne(steps, texts, scorer=_scorer, score_cutoff=SCENARIO_SIMILARITY)
    if found is None:
        return None
    _, score, index = found
    return Match(where[index], score)


def _scorer(a: str, b: str, **_kwargs) -> float:
    return similarity(a, b)


def for_suggestions(story, suggestions) -> dict[int, dict]:
    """{suggestion pk: {"case": Saved | None, "scenarios": {index: Match}}} for the suggestions that repeat saved
    scenarios. "case" is set when every scenario of the suggestion repeats a scenario of that one saved test case."""
    texts, where = saved_scenarios(story)
    result: dict[int, dict] = {}
    if not texts:
        return result
    for suggestion in suggestions:
        matches = {}
        for index, scenario in enumerate(suggestion.scenarios):
            match = best_match(scenario.get("steps", ""), texts, where)
            if match is not None:
                matches[index] = match
        if not matches:
            continue
        cases = {m.saved.test_case_id for m in matches.values()}
        whole = len(matches) == len(suggestion.scenarios) and len(cases) == 1
        result[suggestion.pk] = {"case": next(iter(matches.values())).saved if whole else None, "scenarios": matches}
    return result
