"""Gherkin for QAForge: validate one scenario, render a test case as a .feature file, highlight steps as HTML.

Parsing is done by the official Cucumber parser (gherkin-official). That parser is lenient — a scenario with no
steps, or with no outcome, is valid Gherkin — so we also require at least one step and a `Then`.

A Scenario Outline is stored in the same one format as any scenario: its steps, with `<placeholders>`, followed by an
`Examples:` line and a table whose header row names the placeholders (`| amount | result |`) and whose other rows are
the runs. It is rendered with the `Scenario Outline:` keyword. The parser accepts an outline whose placeholders are
not columns, or whose table has a header and no rows (such an outline runs nothing, or runs with `<amount>` typed
literally), so those are problems here too. Tables are stored with their columns aligned.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from gherkin.errors import CompositeParserException, ParserException
from gherkin.gherkin_line import GherkinLine
from gherkin.parser import Parser
from gherkin.token_matcher import TokenMatcher
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
    """Strip indentation, trailing blanks and empty lines so stored steps are canonical; align table columns."""
    lines = [line.strip() for line in steps.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lines = [line for line in lines if line]
    if any(line.startswith("|") for line in lines):
        lines = _align_tables(lines)
    return "\n".join(lines)


def _cells(row: str) -> list[str]:
    """The cells of one table row as the parser reads them (`\\|` is a pipe inside a cell)."""
    return [cell["text"] for cell in GherkinLine(row, 0).table_cells]


def _escape_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "\\n")


def _align_tables(lines: list[str]) -> list[str]:
    """Pad the cells of each run of table rows to a common width per column, so a table reads as one in monospace.
    A table with a row that does not end in `|` is left as typed: the parser ignores what follows the last `|`, and
    aligning would hide that (validation reports it instead)."""
    result: list[str] = []
    index = 0
    while index < len(lines):
        if not lines[index].startswith("|"):
            result.append(lines[index])
            index += 1
            continue
        end = index
        while end < len(lines) and lines[end].startswith("|"):
            end += 1
        table = lines[index:end]
        rows = [[_escape_cell(cell) for cell in _cells(row)] for row in table]
        if all(row.endswith("|") and not row.endswith("\\|") for row in table) and all(rows):
            widths = [max(len(row[n]) for row in rows if n < len(row)) for n in range(max(map(len, rows)))]
            table = ["| " + " | ".join(cell.ljust(widths[n]) for n, cell in enumerate(row)) + " |" for row in rows]
        result += table
        index = end
    return result


def examples_lines(columns: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    """An Examples table as step lines (`Examples:`, the header row, a row per run), cells escaped, as given: a
    table without columns is only the `Examples:` line, so validation says what is missing rather than guessing."""
    columns = [str(column).strip() for column in columns]
    if not columns:
        return ["Examples:"]
    return ["Examples:", *(_row(cells) for cells in [columns, *rows])]


def _row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(_escape_cell(" ".join(str(cell).split())) for cell in cells) + " |"


_EXAMPLES_RE = re.compile(r"^\s*(Examples|Scenarios):", re.MULTILINE)
_PLACEHOLDER_RE = re.compile(r"<([^<>\n]+)>")


def is_outline(steps: str) -> bool:
    """Whether these steps end in an Examples table (the scenario is a Scenario Outline)."""
    return bool(_EXAMPLES_RE.search(steps or ""))


def scenario_keyword(steps: str) -> str:
    return "Scenario Outline" if is_outline(steps) else "Scenario"


def indented_steps(steps: str) -> list[tuple[int, str]]:
    """The steps as (extra indent, line): steps at 0, `Examples:` at 0, a step's table at 2, an Examples table at 2
    (the layout a .feature file and the pages show)."""
    result = []
    for line in normalise_steps(steps).split("\n"):
        if not line:
            continue
        result.append((2 if line.startswith("|") else 0, line))
    return result


def scenario_block(scenario: ScenarioText, indent: str = "  ") -> str:
    lines = []
    tags = clean_tags(scenario.tags)
    if tags:
        lines.append(indent + " ".join(tags))
    lines.append(f"{indent}{scenario_keyword(scenario.steps)}: {scenario.name.strip()}")
    lines += [f"{indent}  {' ' * extra}{line}" for extra, line in indented_steps(scenario.steps)]
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


def _cell_count(lines: list[str], line: int) -> str:
    """Why row `line` (1-based) of its table is refused: its cell count against the table's first row's."""
    first = line
    while first > 1 and lines[first - 2].startswith("|"):
        first -= 1
    have, want = len(_cells(lines[line - 1])), len(_cells(lines[first - 1]))
    return (
        f"Step line {line}: this table row has {have} cell{'' if have == 1 else 's'} and the table's first row "
        f"{want}: give every row one value per column."
    )


def _friendly(error: ParserException, line_offset: int, lines: list[str]) -> str:
    message = str(error)
    match = re.match(r"\((\d+):(\d+)\): (.*)", message)
    if not match:
        return message
    line = int(match.group(1)) - line_offset
    detail = match.group(3)
    if "inconsistent cell count" in detail and 0 < line <= len(lines) and lines[line - 1].startswith("|"):
        return _cell_count(lines, line)
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
    unclosed = [n for n, line in enumerate(steps.split("\n"), 1) if line.startswith("|") and not line.endswith("|")]
    if unclosed:
        return [f"Step line {n}: a table row must end with '|' (what follows the last '|' is lost)." for n in unclosed]
    text = feature_text("Validation", [scenario])
    scenario_line = text[: text.index("Scenario")].count("\n") + 1  # step N sits on scenario_line + N
    try:
        document = _parse(text)
    except CompositeParserException as error:
        return [_friendly(e, scenario_line, steps.split("\n")) for e in error.errors]
    except ParserException as error:
        return [_friendly(error, scenario_line, steps.split("\n"))]
    children = document["feature"]["children"]
    if len(children) != 1 or "scenario" not in children[0]:
        return ["The steps must describe exactly one scenario (remove extra 'Scenario:' lines)."]
    parsed_steps = children[0]["scenario"]["steps"]
    if not parsed_steps:
        problems.append("The scenario needs at least one step.")
    elif not any(step["keywordType"] == "Outcome" for step in parsed_steps):
        problems.append("The scenario needs a 'Then' step that states the expected outcome.")
    return problems + _outline_problems(children[0]["scenario"], scenario_line)


_parsers = threading.local()


def _parse(text: str) -> dict:
    """One document through this thread's own parser and token matcher: each parse resets both, and building them
    (loading the English dialect) was a tenth of a parse's time; a worker checks thousands of scenarios a sprint."""
    if not hasattr(_parsers, "parser"):
        _parsers.parser, _parsers.matcher = Parser(), TokenMatcher()
    return _parsers.parser.parse(TokenScanner(text), _parsers.matcher)


def _placeholders(step: dict) -> list[str]:
    texts = [step["text"]]
    if step.get("dataTable"):
        texts += [cell["value"] for row in step["dataTable"]["rows"] for cell in row["cells"]]
    if step.get("docString"):
        texts.append(step["docString"]["content"])
    return [name for text in texts for name in _PLACEHOLDER_RE.findall(text)]


def _outline_problems(scenario: dict, scenario_line: int) -> list[str]:
    """What makes an outline run nothing or run with `<placeholders>` left in: an Examples table without a header or
    rows, unnamed or repeated columns, a placeholder that is not a column."""
    problems: list[str] = []
    for examples in scenario.get("examples") or []:
        where = f"The Examples table on step line {examples['location']['line'] - scenario_line}"
        header = examples.get("tableHeader")
        if header is None:
            problems.append(
                f"{where} needs a header row naming its columns (like | amount | result |) and a row of values "
                "for each run."
            )
            continue
        if not examples.get("tableBody"):
            problems.append(f"{where} has no rows: add a row of values under the header for each run.")
        columns = [cell["value"] for cell in header["cells"]]
        if any(not column for column in columns):
            problems.append(f"{where} has a column without a name.")
        for column in sorted({c for c in columns if c and columns.count(c) > 1}):
            problems.append(f"{where} names the column '{column}' twice.")
        for step in scenario["steps"]:
            for name in dict.fromkeys(_placeholders(step)):
                if name not in columns:
                    problems.append(
                        f"Step line {step['location']['line'] - scenario_line} uses <{name}>, which is not a column "
                        f"of the Examples table (its columns: {', '.join(c for c in columns if c) or 'none'})."
                    )
    return problems


def is_valid(scenario: ScenarioText) -> bool:
    return not scenario_problems(scenario)


_EXAMPLES_LINE_RE = re.compile(r"^(Examples|Scenarios)(:)")
_ESCAPED_PLACEHOLDER_RE = re.compile(r"&lt;([^<>\n]+?)&gt;")


def _highlight_line(line: str, outline: bool, pad: str = "") -> str:
    if line.startswith("|"):  # a table row (its indent too) never wraps, so its columns stay aligned when narrow
        html = f'<span class="table-row">{pad}{escape(line)}</span>'
        return _ESCAPED_PLACEHOLDER_RE.sub(r'<span class="ph">&lt;\1&gt;</span>', html) if outline else html
    html = _STEP_RE.sub(r'\1<b class="kw">\2</b>\3', escape(line))
    if outline:
        html = _EXAMPLES_LINE_RE.sub(r'<b class="kw">\1</b>\2', html)
        html = _ESCAPED_PLACEHOLDER_RE.sub(r'<span class="ph">&lt;\1&gt;</span>', html)
    return pad + html


def highlight(steps: str) -> SafeString:
    """Steps as HTML with their keywords wrapped in <b class="kw">, an outline's `Examples:` too and its
    `<placeholders>` in <span class="ph">; everything else is escaped."""
    outline = is_outline(steps)
    return mark_safe("\n".join(_highlight_line(line, outline) for line in normalise_steps(steps).split("\n")))


def highlight_block(steps: str, indent: int = 2) -> SafeString:
    """`highlight`, laid out as under a `Scenario:` line: every line indented by `indent`, tables by 2 more."""
    outline = is_outline(steps)
    lines = indented_steps(steps)
    return mark_safe("\n".join(_highlight_line(line, outline, " " * (indent + extra)) for extra, line in lines))
