"""Which files an import reads (a file, a directory, a zip) and what each says: a .feature file or QAForge's JSON
export parsed into test cases to import. Reading writes nothing; it looks stories up only to resolve tags."""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

from gherkin.errors import CompositeParserException, ParserException
from gherkin.parser import Parser
from gherkin.token_scanner import TokenScanner

from stories import gherkin
from stories.importing_tests.incoming import ImportTestsError, IncomingScenario, IncomingTestCase
from stories.keys import normalise_key
from stories.models import SCENARIO_TAG_PREFIX, TEST_CASE_TAG_PREFIX, TestType, UserStory

_TC_TAG = re.compile(rf"^@{TEST_CASE_TAG_PREFIX}(\d+)$")
_SC_TAG = re.compile(rf"^@{SCENARIO_TAG_PREFIX}(\d+)$")
_PRIORITY_TAG = re.compile(r"^@priority-(\w+)$")
_TYPE_TAGS = {f"@{value.lower()}": value for value in TestType.values}


def read_sources(path: Path, name: str | None = None) -> Iterator[tuple[str, str]]:
    """(name for messages, text) of every file to import under `path`: a .feature, a .json, a directory or a .zip.
    `name` replaces the path in messages (an upload is read from a temporary file)."""
    shown = name or str(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".feature", ".json") and p.is_file())
        if not files:
            raise ImportTestsError([f"{path}: no .feature or .json file in this directory."])
        for file in files:
            yield str(file), _decode(str(file), file.read_bytes())
    elif path.suffix.lower() == ".zip":
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            raise ImportTestsError([f"{shown}: not a zip file."]) from None
        with archive:
            names = sorted(n for n in archive.namelist() if n.lower().endswith((".feature", ".json")))
            if not names:
                raise ImportTestsError([f"{shown}: no .feature or .json file in this zip."])
            for member in names:
                yield f"{shown}!{member}", _decode(f"{shown}!{member}", archive.read(member))
    elif path.is_file():
        yield shown, _decode(shown, path.read_bytes())
    else:
        raise ImportTestsError([f"{path}: no such file or directory."])


def _decode(where: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportTestsError([f"{where}: not UTF-8 text (byte {error.start})."]) from None


def parse_feature(where: str, text: str) -> IncomingTestCase:
    """One .feature file as the test case it describes; invalid Gherkin raises ImportTestsError(file:line:column)."""
    try:
        document = Parser().parse(TokenScanner(text))
    except CompositeParserException as error:
        raise ImportTestsError([_located(where, e) for e in error.errors]) from None
    except ParserException as error:
        raise ImportTestsError([_located(where, error)]) from None
    feature = document.get("feature")
    if not feature:
        raise ImportTestsError([f"{where}:1:1: no Feature in this file."])
    lines = text.splitlines()
    children = [c for c in _children(feature)]
    starts = [_first_line(child) for child in children] + [len(lines) + 1]
    tags = [t["name"] for t in feature["tags"]]
    test_case = IncomingTestCase(
        where=f"{where}:{feature['location']['line']}:{feature['location']['column']}",
        id=_id_from(tags, _TC_TAG),
        story_key=None,
        title=" ".join(feature["name"].split()),
        scenarios=[],
    )
    rest = []
    for tag in tags:
        if _TC_TAG.match(tag):
            continue
        if match := _PRIORITY_TAG.match(tag):
            test_case.priority = match.group(1)
        elif tag.lower() in _TYPE_TAGS:
            test_case.test_type = _TYPE_TAGS[tag.lower()]
        else:
            rest.append(tag[1:])
    test_case.story_key = _story_key(rest)
    test_case.other_tags = [f"@{tag}" for tag in rest]
    description = [line.strip() for line in (feature.get("description") or "").splitlines() if line.strip()]
    test_case.new_objective = "\n".join(line for line in description if not line.startswith("Preconditions:"))
    test_case.new_preconditions = "\n".join(
        line.removeprefix("Preconditions:").strip() for line in description if line.startswith("Preconditions:")
    )
    for index, child in enumerate(children):
        node = child.get("background") or child.get("scenario")
        body = _steps_text(node, lines, starts[index + 1])
        if "background" in child:
            test_case.preconditions = body
            continue
        scenario_tags = [t["name"] for t in node["tags"]]
        test_case.scenarios.append(
            IncomingScenario(
                where=f"{where}:{node['location']['line']}:{node['location']['column']}",
                id=_id_from(scenario_tags, _SC_TAG),
                name=node["name"].strip(),
                steps=body,
                tags=[t for t in scenario_tags if not _SC_TAG.match(t)],
            )
        )
    return test_case


def _children(feature: dict) -> Iterator[dict]:
    for child in feature["children"]:
        if "rule" in child:  # a Rule's scenarios belong to the same test case
            yield from child["rule"]["children"]
        else:
            yield child


def _first_line(child: dict) -> int:
    node = child.get("background") or child.get("scenario")
    return min([node["location"]["line"], *(t["location"]["line"] for t in node.get("tags", []))])


def _steps_text(node: dict, lines: list[str], end: int) -> str:
    """The node's steps as written in the file (tables, doc strings and Examples included), canonicalised."""
    if not node["steps"]:
        return ""
    start = node["steps"][0]["location"]["line"]
    body = [line for line in lines[start - 1 : end - 1] if not line.strip().startswith("#")]
    return gherkin.normalise_steps("\n".join(body))


def _located(where: str, error: ParserException) -> str:
    location = getattr(error, "location", None) or {}
    message = re.sub(r"^\(\d+:\d+\): ", "", str(error))
    return f"{where}:{location.get('line', 0)}:{location.get('column', 0)}: {message}"


def _id_from(tags: list[str], pattern: re.Pattern) -> int | None:
    for tag in tags:
        if match := pattern.match(tag):
            return int(match.group(1))
    return None


def _story_key(candidates: list[str]) -> str | None:
    if not candidates:
        return None
    keys = {normalise_key(c) for c in candidates}
    found = list(UserStory.objects.filter(key__in=keys).values_list("key", flat=True))
    return sorted(found)[0] if len(found) == 1 else (None if not found else "|".join(sorted(found)))


def parse_json(where: str, text: str) -> list[IncomingTestCase]:
    """QAForge's JSON export (a list of stories with test cases and scenarios) as test cases to import."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ImportTestsError([f"{where}:{error.lineno}:{error.colno}: not valid JSON: {error.msg}"]) from None
    if not isinstance(data, list):
        raise ImportTestsError([f"{where}: expected a list of stories (QAForge's JSON export)."])
    result = []
    for s, story in enumerate(data):
        if not isinstance(story, dict) or not isinstance(story.get("test_cases", []), list):
            raise ImportTestsError([f"{where}: stories[{s}] is not a story with a list of test_cases."])
        for t, item in enumerate(story.get("test_cases", [])):
            place = f"{where}: stories[{s}].test_cases[{t}]"
            if not isinstance(item, dict) or not isinstance(item.get("scenarios", []), list):
                raise ImportTestsError([f"{place} is not a test case with a list of scenarios."])
            scenarios = []
            for c, sc in enumerate(item.get("scenarios", [])):
                if not isinstance(sc, dict):
                    raise ImportTestsError([f"{place}.scenarios[{c}] is not a scenario."])
                steps = sc.get("steps", "")
                scenarios.append(
                    IncomingScenario(
                        where=f"{place}.scenarios[{c}]",
                        id=_int_or_none(sc.get("id")),
                        name=str(sc.get("name", "")).strip(),
                        steps=gherkin.normalise_steps("\n".join(steps) if isinstance(steps, list) else str(steps)),
                        tags=gherkin.clean_tags(sc.get("tags", [])),
                        criteria=_criteria(sc.get("criteria")),
                    )
                )
            result.append(
                IncomingTestCase(
                    where=place,
                    id=_int_or_none(item.get("id")),
                    story_key=normalise_key(str(story.get("key", ""))) or None,
                    title=" ".join(str(item.get("title", "")).split()),
                    scenarios=scenarios,
                    test_type=item.get("test_type"),
                    priority=item.get("priority"),
                    preconditions=item.get("preconditions"),
                    objective=item.get("objective"),
                    status=item.get("status"),
                )
            )
    return result


def _criteria(value) -> list[int] | None:
    if not isinstance(value, list):
        return None
    numbers = [_int_or_none(v) for v in value]
    return sorted({n for n in numbers if n is not None and n > 0})


def _int_or_none(value) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
