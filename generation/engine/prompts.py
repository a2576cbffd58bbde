"""What we tell Gemini: a system instruction, the batch's own test cases, and the JSON shape to answer in.

The test case lines use a fixed layout (`- case N | type T | scenarios K | angle A | focus: …`) that both the model
and the fake Gemini server in tests can read.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from generation.engine.planning import ANGLE_GUIDANCE, Batch, CaseFocus, Plan

# Bump when SYSTEM_INSTRUCTION, the prompt layout or the response schema changes: every job and saved test case
# records it, so the generation report can compare what each prompt version produced.
PROMPT_VERSION = "2026-11-23.2"  # .2: Scenario Outlines (the `examples` field)

SYSTEM_INSTRUCTION = """\
You are a senior QA engineer writing test cases for a user story. Each test case has a title, an objective, \
preconditions, a test type, a priority and a list of Gherkin scenarios.
Rules for every scenario:
- `steps` is a list of step lines; each line starts with Given, When, Then, And or But, one action or check per line.
- Every scenario has at least one When and at least one Then that states an observable outcome.
- No "Feature:" or "Scenario:" lines, no tables, no doc strings, no comments, no line numbers in `steps`.
- `examples` is null for an ordinary scenario. For a boundary or data-driven check (a criterion with a limit, a \
range or several input values) write one Scenario Outline instead of near-identical scenarios: put <placeholders> \
in the steps (e.g. "When the shopper adds <quantity> items", "Then the order is <result>") and fill `examples` with \
`columns`, the placeholder names without angle brackets, and `rows`, one list of cell values per run (at least two \
rows, each with exactly one value per column). Every placeholder in the steps must be a column.
- Concrete data (names, amounts, limits from the story) beats vague words; never invent behaviour the story rules out.
- Tags are short words like @smoke, @negative or @boundary.
- `criteria` lists the labels of the acceptance criteria the scenario checks (e.g. ["AC-2"]); cite only labels
  given in the story, and every scenario cites at least one when the story has criteria.
Write exactly the test cases you are asked for, in order, each with exactly the number of scenarios asked for, and
keep each test case to its focus so test cases written in parallel do not repeat each other.
Priority is one of: highest, high, medium, low, lowest."""

CASE_LINE_RE = re.compile(
    r"^- case (?P<number>\d+) \| type (?P<type>[A-Z_]+) \| scenarios (?P<scenarios>\d+) \| angle (?P<angle>\w+)"
    r" \| focus: (?P<focus>.*)$",
    re.MULTILINE,
)


class ExamplesOut(BaseModel):
    """A Scenario Outline's Examples table: the placeholder names, then one row of values per run."""

    columns: list[str]
    rows: list[list[str]]


class ScenarioOut(BaseModel):
    name: str
    steps: list[str]
    tags: list[str] = Field(default_factory=list)
    criteria: list[str] = Field(default_factory=list)  # "AC-2" labels of the acceptance criteria it covers
    examples: ExamplesOut | None = None  # set: a Scenario Outline (stories.gherkin stores it after the steps)


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


def _story_lines(plan: Plan) -> list[str]:
    story = plan.snapshot
    lines = [f"Story {story.key}: {story.title}"]
    if story.project_name:
        lines.append(f"Project: {story.project_name}")
    if story.description.strip():
        lines += ["", "Description:", story.description.strip()]
    if story.acceptance_criteria:
        lines += ["", "Acceptance criteria:"]
        lines += [f"AC-{number}. {' '.join(text.split())}" for number, text in story.numbered]
    return lines


def _case_line(case: CaseFocus) -> str:
    return (
        f"- case {case.number} | type {case.test_type} | scenarios {case.scenarios} | angle {case.angle}"
        f" | focus: {case.describe()}"
    )


def _closing_lines(cases) -> list[str]:
    angles = sorted({case.angle for case in cases})
    lines = ["", "What each angle means:"]
    lines += [f"- {angle}: {ANGLE_GUIDANCE[angle]}" for angle in angles]
    lines += ["", 'Answer with JSON: {"test_cases": [...]}, one entry per case above, with its "case" number.']
    return lines


def batch_prompt(plan: Plan, batch: Batch) -> str:
    """The user prompt for one batch: the story, then only this batch's test cases and their focus."""
    lines = _story_lines(plan)
    lines += ["", f"Batch {batch.index + 1} of {len(plan.batches)}. Write these test cases and no others:"]
    lines += [_case_line(case) for case in batch.cases]
    lines += _closing_lines(batch.cases)
    return "\n".join(lines)


def followup_prompt(plan: Plan, batch: Batch, missing: list[CaseFocus], written: dict[int, list[str]]) -> str:
    """The one follow-up call for what a batch's first answer left out.

    `missing` holds each planned test case still short, with `scenarios` set to how many are missing; `written`
    maps a case number to the names of the scenarios it already has, so the model writes different ones.
    """
    lines = _story_lines(plan)
    lines += [
        "",
        f"Batch {batch.index + 1} of {len(plan.batches)}. Follow-up: the previous answer was short or had scenarios"
        " without a Then step. Write only what is still missing:",
    ]
    for case in missing:
        lines.append(_case_line(case))
        names = written.get(case.number) or []
        if names:
            already = "; ".join(f'"{name}"' for name in names)
            lines.append(f"  already written for case {case.number} (write different scenarios): {already}")
    lines += _closing_lines(missing)
    return "\n".join(lines)
