"""Whether the incoming test cases may be imported (all checked before anything is written) and writing them: an
update where an id names one, a creation where none does, nothing where nothing changed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from stories import gherkin, permissions
from stories.importing_tests.incoming import ImportTestsError, IncomingScenario, IncomingTestCase
from stories.importing_tests.reading import parse_feature, parse_json, read_sources
from stories.keys import normalise_key
from stories.models import Priority, Scenario, TestCase, TestType, UserStory


@dataclass
class ImportReport:
    created_test_cases: int = 0
    created_scenarios: int = 0
    updated_test_cases: int = 0
    updated_scenarios: int = 0
    unchanged: int = 0  # test cases with nothing to change
    kept_scenarios: int = 0  # scenarios in QAForge that the files no longer list (kept)
    dry_run: bool = False

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


def import_tests(
    path: Path | str, story_key: str | None = None, dry_run: bool = False, user=None, name: str | None = None
) -> ImportReport:
    """Import every test case under `path` (see the package docstring); raises ImportTestsError, writing nothing.

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
