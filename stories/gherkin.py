"""Gherkin for QAForge: validate one scenario, render a test case as a .feature file, highlight steps as HTML.

Parsing is done by the official Cucumber parser (gherkin-official). That parser is lenient — a scenario with no
steps, or with no outcome, is valid Gherkin — so we also require at least one step and a `Then`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from gherkin.errors import CompositeParserException, ParserException
from gherkin.parser import Parser
from gherkin.token_scanner import TokenScanner

STEP_KEYWORDS = ("Given", "When", "Then", "And", "But", "*")
_TAG_RE = re.compile(r"^@[^\s@]+$")
_STEP_RE = re.compile(r"^(\s*)(Given|When|Then|And|But|\*)(\s)", re.MULTILINE)


@dataclass
class ScenarioText:
    """The parts of one scenario as QAForge stores them."""

    name: str
    steps: str
    tags: list[str] = field(default_factory=list)


def clean_tags(tags: Iterable[str] | str) -> list[str]:
    """Normalise tags given as a list or a space/comma separated string to ['@smoke', '@ui']."""
    if isinstance(tags, str):
        tags = re.split(r"[\s,]+", tags)
    result: list[str] = []
    for tag in tags:
        tag = tag.strip()
        if not tag:
            continue
        if not tag.startswith("@"):
            tag = "@" + tag
        if tag not in result:
            result.append(tag)
    return result


def normalise_steps(steps: str) -> str:
    """Strip indentation, trailing blanks and empty lines so stored steps are canonical."""
    lines = [line.strip() for line in steps.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(line for line in lines if line)


def scenario_block(scenario: ScenarioText, indent: str = "  ") -> str:
    steps = normalise_steps(scenario.steps)
    keyword = "Scenario Outline" if re.search(r"^\s*Examples:", steps, re.MULTILINE) else "Scenario"
    lines = []
    tags = clean_tags(scenario.tags)
    if tags:
        lines.append(indent + " ".join(tags))
    lines.append(f"{indent}{keyword}: {scenario.name.strip()}")
    for line in steps.split("\n"):
        if not line:
            continue
        if line.startswith("|") or line.startswith("Examples:"):
            extra = "  " if line.startswith("Examples:") else "    "
            lines.append(f"{indent}{extra}{line}")
        else:
            lines.append(f"{indent}  {line}")
    return "\n".join(lines)


# A description line that the parser would read as something else (a step, a keyword, a tag, a table, a comment).
_NOT_DESCRIPTION_RE = re.compile(
    r"^(Given |When |Then |And |But |\* |Feature:|Background:|Scenario|Example|Rule:|@|#|\||\"\"\"|```)"
)


def description_line(line: str) -> str:
    """A free-text line made safe for a Feature's description: lines the parser would take for a step, a keyword,
    a tag or a comment get a leading '- ' so they stay description (Gherkin has no escape for them)."""
    line = line.strip()
    return f"- {line}" if _NOT_DESCRIPTION_RE.match(line) else line


def steps_or_none(text: str) -> str | None:
    """`text` as canonical steps when every line of it is a Gherkin step (so it can be a `Background:`), else None."""
    steps = normalise_steps(text or "")
    if not steps:
        return None
    if all(re.match(r"^(Given|When|Then|And|But|\*)\s", line) for line in steps.split("\n")):
        return steps
    return None


def feature_text(
    title: str,
    scenarios: Iterable[ScenarioText],
    description: str = "",
    tags: Iterable[str] = (),
    background: str = "",
) -> str:
    """Render a feature file: tags, `Feature: title`, an indented description, an optional `Background:` made of
    steps, and the scenarios."""
    parts = []
    feature_tags = clean_tags(list(tags))
    if feature_tags:
        parts.append(" ".join(feature_tags))
    parts.append(f"Feature: {' '.join(title.split())}")
    if description.strip():
        parts.extend("  " + description_line(line) for line in description.strip().splitlines() if line.strip())
    if background.strip():
        parts.append("")
        parts.append("  Background:")
        parts.extend(f"    {line}" for line in normalise_steps(background).split("\n"))
    for scenario in scenarios:
        parts.append("")
        parts.append(scenario_block(scenario))
    return "\n".join(parts) + "\n"


def _friendly(error: ParserException, line_offset: int) -> str:
    message = str(error)
    match = re.match(r"\((\d+):(\d+)\): (.*)", message)
    if not match:
        return message
    line = int(match.group(1)) - line_offset
    detail = match.group(3)
    got = re.search(r"got '(.*)'$", detail)
    if got:
        return (
            f"Step line {line}: '{got.group(1).strip()}' is not a Gherkin step "
            "(start it with Given, When, Then, And or But)."
        )
    return f"Step line {line}: {detail}"


def scenario_problems(scenario: ScenarioText) -> list[str]:
    """Every reason this scenario is not acceptable, for a person to read; an empty list means it is valid."""
    problems: list[str] = []
    name = scenario.name.strip()
    if not name:
        problems.append("The scenario needs a name.")
    elif "\n" in name or "\r" in name:
        problems.append("The scenario name must be one line.")
    for tag in clean_tags(scenario.tags):
        if not _TAG_RE.match(tag):
            problems.append(f"'{tag}' is not a valid tag (tags look like @smoke).")
    steps = normalise_steps(scenario.steps)
    if not steps:
        problems.append("The scenario needs at least one step.")
        return problems
    if problems:
        return problems
    text = feature_text("Validation", [scenario])
    scenario_line = text[: text.index("Scenario")].count("\n") + 1  # step N sits on scenario_line + N
    try:
        document = Parser().parse(TokenScanner(text))
    except CompositeParserException as error:
        return [_friendly(e, scenario_line) for e in error.errors]
    except ParserException as error:
        return [_friendly(error, scenario_line)]
    children = document["feature"]["children"]
    if len(children) != 1 or "scenario" not in children[0]:
        return ["The steps must describe exactly one scenario (remove extra 'Scenario:' lines)."]
    parsed_steps = children[0]["scenario"]["steps"]
    if not parsed_steps:
        problems.append("The scenario needs at least one step.")
    elif not any(step["keywordType"] == "Outcome" for step in parsed_steps):
        problems.append("The scenario needs a 'Then' step that states the expected outcome.")
    return problems


def is_valid(scenario: ScenarioText) -> bool:
    return not scenario_problems(scenario)


def highlight(steps: str) -> SafeString:
    """Steps as HTML with their keywords wrapped in <b class="kw">; everything else is escaped."""
    escaped = escape(normalise_steps(steps))
    return mark_safe(_STEP_RE.sub(r'\1<b class="kw">\2</b>\3', escaped))
