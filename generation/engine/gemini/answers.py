"""What an answer holds: Gemini's JSON as a BatchOut, the planned test cases kept as suggestions of valid Gherkin that
cite the story's criteria (what was dropped counted by reason), and the tokens and model version a call reported,
added to the batch's result."""

from __future__ import annotations

import re
from collections import Counter

import pydantic
from google.genai import types

from generation.engine import gemini
from generation.engine.checks import gherkin_problems
from generation.engine.data import PRIORITIES, TEST_TYPES, BatchResult, SuggestedScenario, Suggestion
from generation.engine.planning import Batch, Plan
from generation.engine.prompts import BatchOut, ScenarioOut
from generation.engine.shortfall import batch_problems, drop_reason
from stories.gherkin import clean_tags, examples_lines, is_outline, normalise_steps


def _batch_out(response: types.GenerateContentResponse) -> BatchOut | None:
    """The answer as a BatchOut, or None when it is not one (then _content_failure says why)."""
    if not isinstance(response.parsed, dict):
        return None
    try:
        return BatchOut.model_validate(response.parsed)
    except pydantic.ValidationError:
        return None


_CITATION_RE = re.compile(r"^\s*(?:AC[\s-]*)?(\d+)\s*$", re.IGNORECASE)


def _citations(labels: list[str], known: set[int], dropped: Counter) -> list[int]:
    """AC numbers from the model's labels ("AC-2", "2"); unknown ones are dropped and counted as "unknown_citation"."""
    numbers: list[int] = []
    for label in labels:
        match = gemini._CITATION_RE.match(str(label))
        number = int(match.group(1)) if match else None
        if number is None or number not in known:
            dropped["unknown_citation"] += 1
        elif number not in numbers:
            numbers.append(number)
    return sorted(numbers)


def _steps(scenario: ScenarioOut) -> str:
    """The one stored steps format: the step lines, then an outline's Examples table (an empty one is no table)."""
    lines = list(scenario.steps)
    examples = scenario.examples
    if examples is not None and (examples.columns or examples.rows):
        # Column names the model wrote as placeholders ("<amount>") name the same column.
        columns = [re.sub(r"^<(.*)>$", r"\1", column.strip()) for column in examples.columns]
        lines += examples_lines(columns, examples.rows)
    return normalise_steps("\n".join(lines))


_PLACEHOLDER_RE = re.compile(r"<[A-Za-z_][\w -]*>")


def _unfilled_outline(steps: str) -> bool:
    """An outline the model left without its Examples: `<placeholders>` in the steps and no table. Markup a
    security scenario types (`<script>…</script>`, `<img src=x>`) closes a tag or has attributes, so it is text."""
    if is_outline(steps) or "</" in steps or "/>" in steps:
        return False
    return bool(gemini._PLACEHOLDER_RE.search(steps))


def suggestions_from(
    parsed: BatchOut, batch: Batch, known: set[int] | None = None
) -> tuple[list[Suggestion], Counter, list[str]]:
    """Keep the planned test cases from a parsed answer, drop invalid scenarios (counted by reason), keep citations
    of the story's criteria (`known` AC numbers; others are counted as "unknown_citation"), note what is missing."""
    planned = {case.number: case for case in batch.cases}
    by_number: dict[int, Suggestion] = {}
    dropped: Counter = Counter()
    known = known or set()
    for out in parsed.test_cases:
        number = out.case
        if number not in planned or number in by_number:
            # A model that renumbers cases: give the answer to the first planned case still open, in order.
            number = next((n for n in planned if n not in by_number), None)
            if number is None:
                continue
        case = planned[number]
        scenarios = []
        names = set()
        for scenario in out.scenarios:
            candidate = SuggestedScenario(
                name=" ".join(scenario.name.split())[:200],  # model text: keep it inside Scenario.name
                steps=gemini._steps(scenario),
                tags=clean_tags(scenario.tags),
                criteria=gemini._citations(scenario.criteria, known, dropped),
            )
            problems = gherkin_problems(candidate.name, candidate.steps, candidate.tags)
            if problems:
                dropped[drop_reason(problems)] += 1
                continue
            if gemini._unfilled_outline(candidate.steps):
                dropped["placeholders without Examples"] += 1
                continue
            if candidate.name in names:
                candidate.name = f"{candidate.name} ({len(scenarios) + 1})"
            names.add(candidate.name)
            scenarios.append(candidate)
        scenarios = scenarios[: case.scenarios]
        test_type = out.test_type.strip().upper()
        priority = out.priority.strip().lower()
        by_number[number] = Suggestion(
            title=" ".join(out.title.split())[:300] or f"Test case {number}",
            objective=out.objective.strip(),
            preconditions=out.preconditions.strip(),
            test_type=test_type if test_type in TEST_TYPES else case.test_type,
            priority=priority if priority in PRIORITIES else case.priority,
            scenarios=scenarios,
            case_number=number,
        )
    suggestions = [by_number[n] for n in planned if n in by_number]
    return suggestions, dropped, batch_problems(batch, suggestions)


def _known(plan: Plan) -> set[int]:
    return {number for number, _ in plan.snapshot.numbered}


def _count_drops(result: BatchResult, dropped: Counter) -> None:
    result.unknown_citations += dropped.pop("unknown_citation", 0)
    result.dropped_invalid += sum(dropped.values())
    for reason, count in dropped.items():
        result.dropped_reasons[reason] = result.dropped_reasons.get(reason, 0) + count


def _usage(response: types.GenerateContentResponse) -> dict[str, int]:
    meta = getattr(response, "usage_metadata", None)
    if meta is None:
        return {}
    counts = {
        "prompt": meta.prompt_token_count,
        "output": meta.candidates_token_count,
        "thinking": meta.thoughts_token_count,
        "total": meta.total_token_count,
    }
    return {name: int(value) for name, value in counts.items() if value}


def _record(result: BatchResult, usage: dict[str, int], model_version: str | None) -> None:
    for name, value in usage.items():
        result.usage[name] = result.usage.get(name, 0) + value
    if model_version:
        result.model_version = model_version
