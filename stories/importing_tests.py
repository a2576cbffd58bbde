"""Bring test cases back from a Cucumber repository or a JSON export: the round trip of `stories.exporting`.

`import_tests(path)` reads a `.feature` file, a directory or zip of them, or QAForge's JSON export:

- a test case or scenario that carries a QAForge id (`@tc-<id>` on the Feature, `@sc-<id>` on a Scenario, `id` in
  JSON) is **updated** — title, test type, priority, scenario names, steps, tags and order — never duplicated; an id
  that names nothing in QAForge is refused (creating it would duplicate it again on every import);
- one without an id is created under the story named by its `@<STORY-KEY>` tag (or `story` = `--story KEY`); a
  scenario without an id added to an existing test case is matched by name, so importing the file twice adds it once;
- a scenario of a test case that is missing from the file is kept (importing never deletes);
- everything is checked before anything is written: invalid Gherkin is refused with `file:line:column`, and one
  problem anywhere writes nothing (one transaction);
- what did not change is counted as unchanged and not written, so re-importing an unchanged export writes nothing.

Steps are read from the file's own lines (not rebuilt from the parsed tree), so tables and doc strings come back
exactly as written.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from gherkin.errors import CompositeParserException, ParserException
from gherkin.parser import Parser
from gherkin.token_scanner import TokenScanner

from stories import gherkin, permissions
from stories.keys import normalise_key
from stories.models import (
    SCENARIO_TAG_PREFIX,
    TEST_CASE_TAG_PREFIX,
    Priority,
    Scenario,
    TestCase,
    TestType,
    UserStory,
)

_TC_TAG = re.compile(rf"^@{TEST_CASE_TAG_PREFIX}(\d+)$")
_SC_TAG = re.compile(rf"^@{SCENARIO_TAG_PREFIX}(\d+)$")
_PRIORITY_TAG = re.compile(r"^@priority-(\w+)$")
_TYPE_TAGS = {f"@{value.lower()}": value for value in TestType.values}


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


@dataclass
class ImportReport:
    created_test_cases: int = 0
    created_scenarios: int = 0
    updated_test_cases: int = 0
    updated_scenarios: int = 0
    unchanged: int = 0  # test cases with nothing to change
    kept_scenarios: int = 0  # scenarios in QAForge that the files no longer list (kept)
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        def n(count: int, word: str) -> str:
            return f"{count} {word}{'' if count == 1 else 's'}"

        parts = [
            f"created {n(self.created_test_cases, 'test case')} ({n(self.created_scenarios, 'scenario')})",
            f"updated {n(self.updated_test_cases, 'test case')} ({n(self.updated_scenarios, 'scenario')} changed)",
            f"unchanged {self.unchanged}",
        ]
        if self.kept_scenarios:
            parts.append(f"kept {n(self.kept_scenarios, 'scenario')} missing from the files")
        text = ", ".join(parts).capitalize() + "."
        return f"Dry run, nothing written: {text[0].lower()}{text[1:]}" if self.dry_run else text


# --- Reading ----------------------------------------------------------------------------------------------------


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


# --- Writing ----------------------------------------------------------------------------------------------------


def import_tests(
    path: Path | str, story_key: str | None = None, dry_run: bool = False, user=None, name: str | None = None
) -> ImportReport:
    """Import every test case under `path` (see the module docstring); raises ImportTestsError, writing nothing.

    With `user` (the browser), every story written to must be one the user may change (stories.permissions); the
    command line runs as an administrator. `name` is how messages call the file (an upload's own name)."""
    incoming: list[IncomingTestCase] = []
    problems: list[str] = []
    for where, text in read_sources(Path(path), name):
        try:
            if where.lower().endswith(".json"):
                incoming.extend(parse_json(where, text))
            else:
                incoming.append(parse_feature(where, text))
        except ImportTestsError as error:
            problems.extend(error.problems)
    if problems:
        raise ImportTestsError(problems)
    default_story = None
    if story_key:
        default_story = UserStory.objects.filter(key=normalise_key(story_key)).first()
        if default_story is None:
            raise ImportTestsError([f"--story {story_key}: no such story."])
    if default_story is not None and user is not None and not permissions.can_edit(user, default_story):
        raise ImportTestsError([f"--story {story_key}: you may not change this story."])
    with transaction.atomic():
        report = _apply(incoming, default_story, user)
        if dry_run:
            report.dry_run = True
            transaction.set_rollback(True)
    return report


def _apply(incoming: list[IncomingTestCase], default_story: UserStory | None, user) -> ImportReport:
    report = ImportReport()
    problems: list[str] = []
    existing = TestCase.objects.select_related("story").in_bulk([tc.id for tc in incoming if tc.id])
    scenario_ids = [sc.id for tc in incoming for sc in tc.scenarios if sc.id]
    existing_scenarios = Scenario.objects.in_bulk(scenario_ids)
    stories = UserStory.objects.in_bulk(
        [tc.story_key for tc in incoming if tc.story_key and "|" not in tc.story_key], field_name="key"
    )
    seen_tc: dict[int, str] = {}
    seen_sc: dict[int, str] = {}
    plans = []
    for tc in incoming:
        problems.extend(_check(tc, existing, existing_scenarios, stories, default_story, seen_tc, seen_sc))
        target = existing[tc.id].story if tc.id in existing else stories.get(tc.story_key) or default_story
        if user is not None and target is not None and not permissions.can_edit(user, target):
            # A story the user may not see is reported like an unknown one: its existence is not revealed.
            seen = permissions.can_view(user, target)
            problems.append(f"{tc.where}: " + (f"you may not change {target.key}." if seen else "no such story."))
        plans.append(tc)
    if problems:
        raise ImportTestsError(problems)
    for tc in plans:
        _write(tc, existing.get(tc.id), existing_scenarios, stories.get(tc.story_key) or default_story, report)
    return report


def _check(tc, existing, existing_scenarios, stories, default_story, seen_tc, seen_sc) -> list[str]:
    problems = []
    if tc.id is not None:
        if tc.id not in existing:
            problems.append(
                f"{tc.where}: @tc-{tc.id} names no test case in QAForge (deleted?); remove the tag to import it as "
                "a new test case."
            )
        elif tc.id in seen_tc:
            problems.append(f"{tc.where}: @tc-{tc.id} is also in {seen_tc[tc.id]}.")
        seen_tc.setdefault(tc.id, tc.where)
    elif tc.story_key and "|" in tc.story_key:
        problems.append(
            f"{tc.where}: the Feature is tagged with more than one story ({tc.story_key.replace('|', ', ')})."
        )
    elif tc.story_key and tc.story_key not in stories:
        problems.append(f"{tc.where}: no story {tc.story_key} in QAForge.")
    elif not tc.story_key and default_story is None:
        tags = f" ({' '.join(tc.other_tags)} name no story)" if tc.other_tags else ""
        problems.append(f"{tc.where}: which story? Tag the Feature with @STORY-KEY or use --story KEY{tags}.")
    if not tc.title:
        problems.append(f"{tc.where}: the test case needs a title (the Feature's name).")
    if tc.test_type is not None and tc.test_type not in TestType.values:
        problems.append(f"{tc.where}: unknown test type {tc.test_type!r}.")
    if tc.priority is not None and tc.priority not in Priority.values:
        problems.append(f"{tc.where}: unknown priority {tc.priority!r} (use {', '.join(Priority.values)}).")
    if not tc.scenarios and tc.id is None:
        problems.append(f"{tc.where}: a new test case needs at least one scenario.")
    for sc in tc.scenarios:
        if sc.id is not None:
            owner = existing_scenarios.get(sc.id)
            if owner is None:
                problems.append(f"{sc.where}: @sc-{sc.id} names no scenario in QAForge; remove the tag to add it.")
            elif owner.test_case_id != tc.id:
                problems.append(f"{sc.where}: @sc-{sc.id} belongs to test case @tc-{owner.test_case_id}, not this one.")
            elif sc.id in seen_sc:
                problems.append(f"{sc.where}: @sc-{sc.id} is also in {seen_sc[sc.id]}.")
            seen_sc.setdefault(sc.id, sc.where)
        for problem in gherkin.scenario_problems(gherkin.ScenarioText(sc.name, sc.steps, sc.tags)):
            problems.append(f"{sc.where}: {problem}")
    return problems


def _scenario_fields(sc: IncomingScenario) -> dict:
    fields = {"name": sc.name, "steps": sc.steps, "tags": sc.tags}
    if sc.criteria is not None:
        fields["criteria"] = sc.criteria
    return fields


def _same(name: str, old, new) -> bool:
    if name == "title":
        return " ".join(str(old).split()) == new
    if name in ("preconditions", "steps"):  # steps stored before tables were aligned are the same steps
        return gherkin.normalise_steps(old) == gherkin.normalise_steps(new)
    return old == new


def _write(tc: IncomingTestCase, test_case: TestCase | None, existing_scenarios, story, report: ImportReport) -> None:
    fields = {"title": tc.title}
    for name in ("test_type", "priority", "preconditions", "objective", "status"):
        if getattr(tc, name) is not None:
            fields[name] = getattr(tc, name)
    if test_case is None:
        fields.setdefault("objective", tc.new_objective)
        fields.setdefault("preconditions", tc.new_preconditions)
        test_case = TestCase.objects.create(story=story, **fields)
        report.created_test_cases += 1
        for position, sc in enumerate(tc.scenarios):
            Scenario.objects.create(test_case=test_case, position=position, **_scenario_fields(sc))
            report.created_scenarios += 1
        return
    changed = [name for name, value in fields.items() if not _same(name, getattr(test_case, name), value)]
    for name in changed:
        setattr(test_case, name, fields[name])
    scenarios_changed = 0
    listed = set()
    # A scenario without an id that has the name of one of this test case's scenarios (not named by an id in the
    # file) is that scenario: importing the same edited file twice must not add it twice.
    named_by_id = {sc.id for sc in tc.scenarios if sc.id}
    by_name = {s.name: s for s in test_case.scenarios.order_by("-id") if s.pk not in named_by_id}
    for position, sc in enumerate(tc.scenarios):
        scenario = existing_scenarios.get(sc.id) if sc.id else by_name.pop(sc.name, None)
        if scenario is None:
            scenario = Scenario.objects.create(test_case=test_case, position=position, **_scenario_fields(sc))
            listed.add(scenario.pk)
            scenarios_changed += 1
            continue
        listed.add(scenario.pk)
        wanted = {**_scenario_fields(sc), "position": position}
        if not all(_same(k, getattr(scenario, k), v) for k, v in wanted.items()):
            for k, v in wanted.items():
                setattr(scenario, k, v)
            scenario.save()
            scenarios_changed += 1
    report.kept_scenarios += test_case.scenarios.exclude(pk__in=listed).count()
    if changed:
        test_case.save(update_fields=[*changed, "updated_at"])
    if changed or scenarios_changed:
        report.updated_test_cases += 1
        report.updated_scenarios += scenarios_changed
    else:
        report.unchanged += 1
