"""Plain data that goes into and comes out of the engine: no ORM, everything JSON-friendly."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from generation import options
from stories.models import Priority, TestType

TEST_TYPES = tuple(TestType.values)
PRIORITIES = tuple(Priority.values)


class EngineError(Exception):
    """Generation could not run or produced nothing usable; str() is a clear, key-free message for a QA lead."""


class Cancelled(Exception):
    """The caller asked to stop (should_cancel returned True); the batches still running were cancelled."""


@dataclass(frozen=True)
class StorySnapshot:
    """The parts of a user story the engine needs, copied out of the database before any model call."""

    key: str
    title: str
    description: str = ""
    acceptance_criteria: tuple[str, ...] = ()
    project_name: str = ""
    criteria_numbers: tuple[int, ...] = ()  # stable AC numbers, parallel to acceptance_criteria (empty: 1, 2, …)
    revision: str = ""  # the story's content hash (stories.criteria.revision)

    @classmethod
    def from_story(cls, story) -> StorySnapshot:
        """Copy a stories.models.UserStory (its project may be None)."""
        numbered = [(n, str(c).strip()) for n, c in story.numbered_criteria if str(c).strip()]
        return cls(
            key=story.key,
            title=story.title or "",
            description=story.description or "",
            acceptance_criteria=tuple(text for _, text in numbered),
            project_name=story.project.name if story.project_id else "",
            criteria_numbers=tuple(n for n, _ in numbered),
            revision=story.revision,
        )

    @property
    def numbered(self) -> list[tuple[int, str]]:
        """[(AC number, text)] in order."""
        numbers = self.criteria_numbers
        if len(numbers) != len(self.acceptance_criteria):
            numbers = tuple(range(1, len(self.acceptance_criteria) + 1))
        return list(zip(numbers, self.acceptance_criteria, strict=True))


@dataclass(frozen=True)
class GenerationRequest:
    """What the QA lead asked for."""

    test_cases: int = options.DEFAULT_TEST_CASES
    scenarios_per_test: int = options.DEFAULT_SCENARIOS_PER_TEST
    test_types: tuple[str, ...] = options.DEFAULT_TEST_TYPES
    criteria: tuple[int, ...] = ()  # only these acceptance criteria (AC numbers); empty: the whole story

    def problems(self) -> list[str]:
        """Human messages for out-of-range counts or unknown test types (the rules of
        `generation.options.GenerationOptions`); an empty list means the request is valid."""
        try:
            options.GenerationOptions.parse(
                test_cases=self.test_cases, scenarios_per_test=self.scenarios_per_test, test_types=list(self.test_types)
            )
        except options.OptionsError as error:
            return error.messages
        return []

    @property
    def total_scenarios(self) -> int:
        return self.test_cases * self.scenarios_per_test


@dataclass
class SuggestedScenario:
    name: str
    steps: str  # newline-separated Gherkin step lines
    tags: list[str] = field(default_factory=list)
    criteria: list[int] = field(default_factory=list)  # AC numbers this scenario covers


@dataclass
class Suggestion:
    title: str
    objective: str
    preconditions: str
    test_type: str
    priority: str
    scenarios: list[SuggestedScenario] = field(default_factory=list)
    case_number: int = 0  # the planned test case (1-based) this answers; 0 when unknown

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Suggestion:
        scenarios = [SuggestedScenario(**s) for s in data.get("scenarios", [])]
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "scenarios"}
        return cls(scenarios=scenarios, **known)


@dataclass
class BatchResult:
    """One finished batch; round-trips through JSON because the job layer checkpoints it."""

    index: int
    suggestions: list[Suggestion] = field(default_factory=list)
    attempts: int = 0
    retries: int = 0
    seconds: float = 0.0
    dropped_invalid: int = 0
    error: str | None = None  # set: this batch failed
    problems: list[str] = field(default_factory=list)
    error_kind: str | None = None  # auth | model | quota | request | rate | content | timeout | server | network
    reasked: int = 0  # follow-up calls made for test cases or scenarios the first answer left out
    dropped_reasons: dict[str, int] = field(default_factory=dict)  # why scenarios were dropped: {"no Then step": 2}
    usage: dict[str, int] = field(default_factory=dict)  # token counts summed over this batch's calls
    model_version: str = ""  # the model version the API reported
    unknown_citations: int = 0  # citations of criteria the story does not have (dropped)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "suggestions": [s.to_dict() for s in self.suggestions],
            "attempts": self.attempts,
            "retries": self.retries,
            "seconds": self.seconds,
            "dropped_invalid": self.dropped_invalid,
            "error": self.error,
            "problems": list(self.problems),
            "error_kind": self.error_kind,
            "reasked": self.reasked,
            "dropped_reasons": dict(self.dropped_reasons),
            "usage": dict(self.usage),
            "model_version": self.model_version,
            "unknown_citations": self.unknown_citations,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchResult:
        return cls(
            index=int(data["index"]),
            suggestions=[Suggestion.from_dict(s) for s in data.get("suggestions", [])],
            attempts=int(data.get("attempts", 0)),
            retries=int(data.get("retries", 0)),
            seconds=float(data.get("seconds", 0.0)),
            dropped_invalid=int(data.get("dropped_invalid", 0)),
            error=data.get("error"),
            problems=list(data.get("problems", [])),
            error_kind=data.get("error_kind"),
            reasked=int(data.get("reasked", 0)),
            dropped_reasons={str(k): int(v) for k, v in (data.get("dropped_reasons") or {}).items()},
            usage={str(k): int(v) for k, v in (data.get("usage") or {}).items()},
            model_version=str(data.get("model_version") or ""),
            unknown_citations=int(data.get("unknown_citations", 0)),
        )


@dataclass
class GenerationResult:
    suggestions: list[Suggestion]  # merged in plan order, deduplicated
    report: dict[str, Any]
    batches_total: int
    batches_failed: int
    error: str | None = None  # nothing usable came back: the clearest batch error
    # What is still missing after the follow-up calls, one sentence each for a QA lead (empty: nothing is missing).
    warnings: list[str] = field(default_factory=list)
    asked: dict[str, int] = field(default_factory=dict)  # {"test_cases": 5, "scenarios": 15}
    got: dict[str, int] = field(default_factory=dict)  # the same counts for what came back

    @property
    def warning(self) -> str | None:
        """All warnings as one text, or None."""
        return " ".join(self.warnings) or None
