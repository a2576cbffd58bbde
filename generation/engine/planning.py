"""Planning before any call: every test case gets its own focus, and test cases are packed into batches.

Giving each test case a distinct focus up front (test type x acceptance criterion x angle) is what lets batches run in
parallel without inventing the same scenarios: each batch is only told about its own test cases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.conf import settings

from generation.engine.data import GenerationRequest, StorySnapshot
from generation.engine.text import clean_sentence, has_limits

ANGLES = ("happy", "negative", "boundary", "edge")
ANGLE_LABELS = {
    "happy": "happy path",
    "negative": "negative path",
    "boundary": "boundary values",
    "edge": "edge cases",
}
ANGLE_GUIDANCE = {
    "happy": "the expected flow with valid data succeeds and the outcome is visible",
    "negative": "invalid input, missing permissions or failures are rejected with a clear message and no side effects",
    "boundary": "values exactly at, just inside and just outside each limit (a Scenario Outline, a row per value)",
    "edge": "unusual but legal situations: repeats, empty states, concurrency, interruptions",
}
_PRIORITY = {"happy": "high", "negative": "high", "boundary": "medium", "edge": "low"}


@dataclass(frozen=True)
class CaseFocus:
    """What one planned test case is about."""

    number: int  # 1-based across the whole plan
    test_type: str
    angle: str  # happy | negative | boundary | edge
    criterion_index: int | None  # 0-based index into the story's criteria; None = the story as a whole
    criterion: str
    scenarios: int
    variation: int = 0  # >0 when every criterion x angle was already taken and this case revisits one
    criterion_number: int | None = None  # the criterion's stable AC number (AC-3 -> 3)

    @property
    def priority(self) -> str:
        if self.test_type == "SECURITY" and self.angle == "negative":
            return "highest"
        return _PRIORITY[self.angle]

    def describe(self) -> str:
        """One line for a prompt or a report: 'negative path of acceptance criterion 2: …'."""
        if self.criterion_index is None:
            target = f"the story as a whole: {self.criterion}"
        else:
            number = self.criterion_number if self.criterion_number is not None else self.criterion_index + 1
            target = f"acceptance criterion AC-{number}: {self.criterion}"
        again = f" (variation {self.variation + 1}: choose different data and situations)" if self.variation else ""
        return f"{ANGLE_LABELS[self.angle]} of {target}{again}"


@dataclass(frozen=True)
class Batch:
    index: int
    cases: tuple[CaseFocus, ...]

    @property
    def scenarios(self) -> int:
        return sum(c.scenarios for c in self.cases)


@dataclass(frozen=True)
class Plan:
    snapshot: StorySnapshot
    request: GenerationRequest
    batch_size: int
    batches: tuple[Batch, ...]

    @property
    def cases(self) -> list[CaseFocus]:
        return [case for batch in self.batches for case in batch.cases]

    @property
    def total_scenarios(self) -> int:
        return sum(b.scenarios for b in self.batches)


_ROUND_ORDER = ("happy", "boundary", "negative", "edge")


def _focuses(
    snapshot: StorySnapshot, count: int, only: tuple[int, ...] = ()
) -> list[tuple[int | None, int | None, str, str, int]]:
    """(criterion index, AC number, criterion text, angle, variation) for `count` cases, most valuable first.

    Round by round over the angles: first every criterion's happy path, then boundaries (only for criteria with
    numeric limits: a limit a story states outright is where off-by-one mistakes live, so it ranks before the generic
    negative paths), then every negative path, then edge cases; after that, variations of the same list. With `only`,
    just those criteria (by AC number) are targets.
    """
    targets: list[tuple[int | None, int | None, str]] = [
        (index, number, clean_sentence(text))
        for index, (number, text) in enumerate(snapshot.numbered)
        if clean_sentence(text) and (not only or number in only)
    ]
    if not targets:
        whole = clean_sentence(snapshot.title) or "the story"
        targets = [(None, None, whole)]
    combos = []
    for angle in _ROUND_ORDER:
        for index, number, text in targets:
            if angle == "boundary" and not has_limits(text):
                continue
            combos.append((index, number, text, angle))
    result = []
    variation = 0
    while len(result) < count:
        for index, number, text, angle in combos:
            if len(result) == count:
                break
            result.append((index, number, text, angle, variation))
        variation += 1
    return result


def plan(snapshot: StorySnapshot, request: GenerationRequest, *, batch_size: int | None = None) -> Plan:
    """Assign every test case a focus and pack whole test cases into batches of at most `batch_size` scenarios.

    Deterministic for the same inputs. A test case is never split over batches, so a batch can exceed the batch size
    only when one test case alone asks for more scenarios than that. Batches are balanced (sizes differ by at most one
    test case) so the slowest batch, which sets the wall time, is as small as possible.
    """
    size = int(batch_size or getattr(settings, "QAFORGE_BATCH_SIZE", 15) or 15)
    size = max(1, size)
    types = tuple(request.test_types) or ("FUNCTIONAL",)
    cases = [
        CaseFocus(
            number=i + 1,
            test_type=types[i % len(types)],
            angle=angle,
            criterion_index=index,
            criterion=text,
            scenarios=request.scenarios_per_test,
            variation=variation,
            criterion_number=number,
        )
        for i, (index, number, text, angle, variation) in enumerate(
            _focuses(snapshot, request.test_cases, tuple(request.criteria))
        )
    ]
    per_batch = max(1, size // max(1, request.scenarios_per_test))
    count = max(1, math.ceil(len(cases) / per_batch))
    base, extra = divmod(len(cases), count)
    batches = []
    start = 0
    for index in range(count):
        take = base + (1 if index < extra else 0)
        batches.append(Batch(index=index, cases=tuple(cases[start : start + take])))
        start += take
    return Plan(snapshot=snapshot, request=request, batch_size=size, batches=tuple(batches))
