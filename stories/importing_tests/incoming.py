"""What an import file says, before anything is checked against QAForge, and the error that stops an import."""

from __future__ import annotations

from dataclasses import dataclass, field


class ImportTestsError(Exception):
    """Nothing was imported; `problems` lists every reason as `place: message`."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class IncomingScenario:
    where: str
    id: int | None
    name: str
    steps: str
    tags: list[str]
    criteria: list[int] | None = None  # acceptance criteria numbers (JSON only); None keeps what QAForge has


@dataclass
class IncomingTestCase:
    where: str
    id: int | None
    story_key: str | None
    title: str
    scenarios: list[IncomingScenario]
    test_type: str | None = None
    priority: str | None = None
    # None keeps what QAForge has (a feature file without Background says nothing about preconditions).
    preconditions: str | None = None
    objective: str | None = None
    status: str | None = None
    # Used only when the test case is created: a Feature's description is free text, not a field to round-trip.
    new_objective: str = ""
    new_preconditions: str = ""
    other_tags: list[str] = field(default_factory=list)  # Feature tags that are neither ids, type nor priority
