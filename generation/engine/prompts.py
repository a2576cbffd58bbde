"""What we tell Gemini: a system instruction, the batch's own test cases, and the JSON shape to answer in.

The test case lines use a fixed layout (`- case N | type T | scenarios K | angle A | focus: …`) that both the model
and the fake Gemini server in tests can read.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from generation.engine.planning import ANGLE_GUIDANCE, Batch, Plan

SYSTEM_INSTRUCTION = """\
You are a senior QA engineer writing test cases for a user story. Each test case has a title, an objective, \
preconditions, a test type, a priority and a list of Gherkin scenarios.
Rules for every scenario:
- `steps` is a list of step lines; each line starts with Given, When, Then, And or But, one action or check per line.
- Every scenario has at least one When and at least one Then that states an observable outcome.
- No "Feature:" or "Scenario:" lines, no tables, no doc strings, no comments, no line numbers.
- Concrete data (names, amounts, limits from the story) beats vague words; never invent behaviour the story rules out.
- Tags are short words like @smoke, @negative or @boundary.
Write exactly the test cases you are asked for, in order, each with exactly the number of scenarios asked for, and
keep each test case to its focus so test cases written in parallel do not repeat each other.
Priority is one of: highest, high, medium, low, lowest."""

CASE_LINE_RE = re.compile(
    r"^- case (?P<number>\d+) \| type (?P<type>[A-Z_]+) \| scenarios (?P<scenarios>\d+) \| angle (?P<angle>\w+)"
    r" \| focus: (?P<focus>.*)$",
    re.MULTILINE,
)


class ScenarioOut(BaseModel):
    name: str
    steps: list[str]
    tags: list[str] = Field(default_factory=list)


class TestCaseOut(BaseModel):
    __test__ = False  # not a pytest class

    case: int
    title: str
    objective: str
    preconditions: str
    test_type: str
    priority: str
    scenarios: list[ScenarioOut]


class BatchOut(BaseModel):
    test_cases: list[TestCaseOut]


def batch_prompt(plan: Plan, batch: Batch) -> str:
    """The user prompt for one batch: the story, then only this batch's test cases and their focus."""
    story = plan.snapshot
    lines = [f"Story {story.key}: {story.title}"]
    if story.project_name:
        lines.append(f"Project: {story.project_name}")
    if story.description.strip():
        lines += ["", "Description:", story.description.strip()]
    if story.acceptance_criteria:
        lines += ["", "Acceptance criteria:"]
        lines += [f"{i}. {' '.join(c.split())}" for i, c in enumerate(story.acceptance_criteria, start=1)]
    lines += [
        "",
        f"Batch {batch.index + 1} of {len(plan.batches)}. Write these test cases and no others:",
    ]
    for case in batch.cases:
        lines.append(
            f"- case {case.number} | type {case.test_type} | scenarios {case.scenarios} | angle {case.angle}"
            f" | focus: {case.describe()}"
        )
    angles = sorted({case.angle for case in batch.cases})
    lines += ["", "What each angle means:"]
    lines += [f"- {angle}: {ANGLE_GUIDANCE[angle]}" for angle in angles]
    lines += ["", 'Answer with JSON: {"test_cases": [...]}, one entry per case above, with its "case" number.']
    return "\n".join(lines)
