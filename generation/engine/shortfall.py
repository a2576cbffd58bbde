"""No silent shortfalls: what a batch's answer left out, the follow-up that asks for it, and the warnings that remain.

A batch answer can be short in two ways: a planned test case is missing, or a test case has fewer valid scenarios
than planned (the model wrote fewer, or some were dropped as invalid Gherkin). The Gemini path asks once more for
exactly what is missing (gemini.run_batch); whatever is still missing after that becomes a warning on the job,
worded here once for every place that shows it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from generation.engine.data import Suggestion
from generation.engine.planning import Batch, CaseFocus
from stories.gherkin import normalise_steps

# Why a scenario was dropped, from stories.gherkin.scenario_problems' messages; the first match wins.
_REASONS = (
    ("'Then' step", "no Then step"),
    ("at least one step", "no steps"),
    ("needs a name", "no name"),
    ("not a Gherkin step", "not valid Gherkin"),
    ("Examples table", "broken Examples table"),
    ("one value per column", "broken Examples table"),
    ("must end with '|'", "broken Examples table"),
    ("Step line", "not valid Gherkin"),
)


def drop_reason(problems: list[str]) -> str:
    """A short, countable reason for a scenario that failed validation ("no Then step")."""
    for problem in problems:
        for needle, reason in _REASONS:
            if needle in problem:
                return reason
    return "invalid Gherkin"


def missing_cases(batch: Batch, suggestions: list[Suggestion]) -> list[CaseFocus]:
    """Each planned case of `batch` that is absent or short, with `scenarios` set to how many are still missing."""
    have = {s.case_number: len(s.scenarios) for s in suggestions}
    missing = []
    for case in batch.cases:
        short = case.scenarios - have.get(case.number, 0)
        if short > 0:
            missing.append(replace(case, scenarios=short))
    return missing


def batch_problems(batch: Batch, suggestions: list[Suggestion]) -> list[str]:
    """Report lines for what a batch still lacks (the job report's "problems")."""
    planned = {case.number: case for case in batch.cases}
    have = {s.case_number: s for s in suggestions}
    problems = []
    missing = [n for n in planned if n not in have]
    if missing:
        problems.append(f"Batch {batch.index + 1}: Gemini left out test case(s) {', '.join(map(str, missing))}.")
    for number, suggestion in have.items():
        wanted = planned[number].scenarios if number in planned else len(suggestion.scenarios)
        if len(suggestion.scenarios) < wanted:
            problems.append(
                f"Batch {batch.index + 1}: test case {number} has {len(suggestion.scenarios)} of {wanted} scenarios."
            )
    return problems


def _key(steps: str) -> str:
    return " ".join(normalise_steps(steps).lower().split())


def fold_in(batch: Batch, suggestions: list[Suggestion], extra: list[Suggestion]) -> list[Suggestion]:
    """Add the follow-up's suggestions to a batch's: missing cases join in plan order, short cases get the new
    scenarios (never beyond the planned count, never repeating steps or names already there)."""
    planned = {case.number: case for case in batch.cases}
    by_number = {s.case_number: s for s in suggestions}
    for addition in extra:
        current = by_number.get(addition.case_number)
        if current is None:
            by_number[addition.case_number] = addition
            continue
        steps = {_key(sc.steps) for sc in current.scenarios}
        names = {sc.name for sc in current.scenarios}
        wanted = planned[current.case_number].scenarios if current.case_number in planned else 0
        for scenario in addition.scenarios:
            if len(current.scenarios) >= wanted or _key(scenario.steps) in steps:
                continue
            if scenario.name in names:
                scenario.name = f"{scenario.name} ({len(current.scenarios) + 1})"
            steps.add(_key(scenario.steps))
            names.add(scenario.name)
            current.scenarios.append(scenario)
    return [by_number[n] for n in planned if n in by_number]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def warnings(
    *,
    who: str,
    asked: dict[str, int],
    got: dict[str, int],
    dropped: Counter | dict[str, int],
    duplicates: int,
) -> list[str]:
    """The shortfall as sentences for a QA lead; empty when everything asked for came back.

    e.g. ["Gemini returned 4 of the 5 test cases asked (12 of 15 scenarios); 2 scenarios were dropped: no Then step."]
    """
    if got["test_cases"] >= asked["test_cases"] and got["scenarios"] >= asked["scenarios"]:
        return []
    if got["test_cases"] < asked["test_cases"]:
        sentence = f"{who} returned {got['test_cases']} of the {asked['test_cases']} test cases asked"
        sentence += f" ({got['scenarios']} of {asked['scenarios']} scenarios)"
    else:
        sentence = f"{who} returned {got['scenarios']} of the {asked['scenarios']} scenarios asked"
    details = []
    dropped_total = sum(dropped.values())
    if dropped_total:
        reasons = sorted(dropped.items(), key=lambda item: (-item[1], item[0]))
        if len(reasons) == 1:
            why = reasons[0][0]
        else:
            why = ", ".join(f"{count} {reason}" for reason, count in reasons)
        details.append(f"{_plural(dropped_total, 'scenario')} {'was' if dropped_total == 1 else 'were'} dropped: {why}")
    if duplicates:
        details.append(f"{_plural(duplicates, 'repeated scenario')} {'was' if duplicates == 1 else 'were'} removed")
    return [sentence + "".join(f"; {d}" for d in details) + "."]


def short_label(asked: dict[str, int], got: dict[str, int]) -> str:
    """The badge's few words for a shortfall: "4 of 5" test cases, or "12 of 15 scenarios"; "" when complete."""
    if not asked or not got:
        return ""
    if got.get("test_cases", 0) < asked.get("test_cases", 0):
        return f"{got['test_cases']} of {asked['test_cases']}"
    if got.get("scenarios", 0) < asked.get("scenarios", 0):
        return f"{got['scenarios']} of {asked['scenarios']} scenarios"
    return ""
