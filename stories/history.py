"""Who changed what, and when: the history of stories, test cases and scenarios (django-simple-history).

Every save and delete of a UserStory, TestCase or Scenario writes a historical row with the user and a reason.
The user comes from, in order: `instance._history_user`; the innermost `recorded_as(user, reason)` block (commands,
imports, review saves, anything outside a request); the request (`HistoryRequestMiddleware`: pages, the API
whichever way it authenticates, the admin). The reason says where a change came from ("import stories.csv",
"saved from review of job …", "restored").

Bulk writes skip model signals, so code that bulk-creates or bulk-updates these models records history itself
with `record_bulk(model, rows, update=...)` (it reads the same `recorded_as` context).

The pages built on it: `stories.views_history` (a story's history, a test case's versions with a Gherkin diff,
restoring a deleted test case).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from simple_history.models import HistoricalRecords
from simple_history.utils import get_change_reason_from_object

from stories import bulk, gherkin

_actor: ContextVar[tuple[object, str] | None] = ContextVar("qaforge_history_actor", default=None)
REASON_MAX = 100  # simple-history's change reason column


@contextmanager
def recorded_as(user=None, reason: str = "") -> Iterator[None]:
    """Changes made inside this block are recorded as made by `user` (None: a script), with `reason`."""
    token = _actor.set((user if getattr(user, "is_authenticated", False) else None, reason[:REASON_MAX]))
    try:
        yield
    finally:
        _actor.reset(token)


class History(HistoricalRecords):
    """HistoricalRecords that also reads the user and reason of the enclosing `recorded_as` block."""

    def get_history_user(self, instance):
        if hasattr(instance, "_history_user"):
            return instance._history_user
        actor = _actor.get()
        if actor is not None and actor[0] is not None:
            return actor[0]
        return super().get_history_user(instance)

    def get_change_reason_for_object(self, instance, history_type, using):
        actor = _actor.get()
        return get_change_reason_from_object(instance) or (actor[1] if actor else None)


def record_bulk(model, rows: Iterable, *, update: bool) -> None:
    """History rows for objects written with bulk_create / a bulk UPDATE (pass the rows as stored)."""
    user, reason = _bulk_actor()
    model.history.bulk_history_create(list(rows), update=update, default_user=user, default_change_reason=reason)


def record_rows(model, rows: list[dict], *, update: bool) -> None:
    """History rows for rows written with `stories.bulk` (dicts of every tracked field's value as stored, the
    primary key included): what `record_bulk` writes, without a model instance per row (an import's thousands)."""
    if not rows or not getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
        return
    user, reason = _bulk_actor()
    historical = model.history.model
    common = {
        "history_date": timezone.now(),
        "history_user_id": user.pk if user is not None else None,
        "history_change_reason": reason,
        "history_type": "~" if update else "+",
    }
    tracked = [f.attname for f in historical.tracked_fields]
    bulk.insert(historical, [{**{name: row[name] for name in tracked}, **common} for row in rows])


def _bulk_actor() -> tuple[object, str]:
    user, reason = _actor.get() or (None, "")
    if user is None:  # not in a recorded_as block: the signed-in user of the request, if any
        request_user = getattr(getattr(HistoricalRecords.context, "request", None), "user", None)
        user = request_user if getattr(request_user, "is_authenticated", False) else None
    return user, reason


def add_user_option(parser) -> None:
    """`--user USERNAME` for commands that change stories or test cases: whom the history names."""
    parser.add_argument("--user", metavar="USERNAME", help="record the changes as made by this user (history)")


def command_user(username: str | None):
    """The user named by `--user`, or None (the history then says "a script"); CommandError if unknown."""
    from django.contrib.auth import get_user_model
    from django.core.management.base import CommandError

    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"There is no user {username!r}.")
    return user


# --- Reading the history --------------------------------------------------------------------------------------


TYPE_NAMES = {"+": "created", "~": "changed", "-": "deleted"}
# Changes by one user, for one reason, this close together are one edit (a form saves the test case, then each
# of its scenarios).
SAME_EDIT = timedelta(seconds=2)
HIDDEN_FIELDS = {"id", "updated_at", "created_at", "key_sort", "criteria_numbers", "criteria_next_number"}


@dataclass
class Change:
    """One row of history shown to a person: who, when, what, and the fields that changed."""

    record: object
    what: str
    fields: list[str] = field(default_factory=list)
    test_case_id: int | None = None  # set on a test case's change: its history page

    @property
    def who(self) -> str:
        user = self.record.history_user
        return user.get_username() if user is not None else "a script"

    @property
    def when(self) -> datetime:
        return self.record.history_date

    @property
    def reason(self) -> str:
        return self.record.history_change_reason or ""


def changed_fields(record) -> list[str]:
    """Names (verbose) of the fields this historical row changed compared with the one before it."""
    if record.history_type != "~":
        return []
    previous = record.prev_record
    if previous is None:
        return []
    delta = record.diff_against(previous)
    names = [c.field for c in delta.changes if c.field not in HIDDEN_FIELDS]
    return [str(record.instance_type._meta.get_field(name).verbose_name) for name in names]


def story_changes(story) -> list[Change]:
    """The story's own changes and every create/change/delete of its test cases, newest first."""
    from stories.models import TestCase

    changes = []
    for r in story.history.select_related("history_user"):
        fields = changed_fields(r)
        if r.history_type != "~" or fields:  # a save that changed nothing is not a change
            changes.append(Change(r, f"Story {TYPE_NAMES[r.history_type]}", fields))
    for r in TestCase.history.filter(story_id=story.pk).select_related("history_user"):
        fields = changed_fields(r)
        if r.history_type != "~" or fields:
            what = f"Test case “{r.title}” {TYPE_NAMES[r.history_type]}"
            changes.append(Change(r, what, fields, test_case_id=r.id))
    return sorted(changes, key=lambda c: c.when, reverse=True)


@dataclass
class Version:
    """A test case as it was after one edit: its feature text, and the diff from the version before."""

    number: int
    when: datetime
    who: str
    reason: str
    what: list[str]
    text: str
    title: str = ""
    deleted: bool = False
    diff: list[tuple[str, str]] = field(default_factory=list)  # (css class, line)


def test_case_versions(test_case_id: int) -> list[Version]:
    """Every version of the test case (oldest first), each after one edit of it or of its scenarios."""
    from stories.models import Scenario, TestCase

    records = list(TestCase.history.filter(id=test_case_id).select_related("history_user").order_by("history_date"))
    scenario_records = list(
        Scenario.history.filter(test_case_id=test_case_id).select_related("history_user").order_by("history_date")
    )
    events = [(r.history_date, "Test case", r) for r in records]
    events += [(r.history_date, "Scenario", r) for r in scenario_records]
    events.sort(key=lambda e: e[0])
    groups: list[list[tuple]] = []
    for event in events:
        last = groups[-1][-1] if groups else None
        if last and event[0] - last[0] <= SAME_EDIT and _author(event[2]) == _author(last[2]):
            groups[-1].append(event)
        else:
            groups.append([event])

    versions: list[Version] = []
    previous_text = ""
    for number, group in enumerate(groups, start=1):
        moment = group[-1][0]
        case = _as_of(records, moment)
        scenarios = _scenarios_as_of(scenario_records, moment)
        deleted = case is None or case.history_type == "-"
        text = _feature_text(case, scenarios) if case is not None and not deleted else ""
        first = group[0][2]
        version = Version(
            number=number,
            when=moment,
            who=first.history_user.get_username() if first.history_user else "a script",
            reason=next((e[2].history_change_reason for e in group if e[2].history_change_reason), "") or "",
            what=[line for _, kind, r in group if (line := _describe(kind, r))],
            text=text,
            title=case.title if case is not None else "",
            deleted=deleted,
            diff=gherkin_diff(previous_text, text),
        )
        versions.append(version)
        previous_text = text
    return versions


def _author(record) -> tuple:
    return record.history_user_id, record.history_change_reason or ""


def _as_of(records: list, moment: datetime):
    latest = None
    for r in records:
        if r.history_date <= moment:
            latest = r
    return latest


def _scenarios_as_of(records: list, moment: datetime) -> list:
    latest: dict[int, object] = {}
    for r in records:
        if r.history_date <= moment:
            latest[r.id] = r
    alive = [r for r in latest.values() if r.history_type != "-"]
    return sorted(alive, key=lambda r: (r.position, r.id))


def _describe(kind: str, record) -> str:
    """ "Scenario “Pay” changed (steps)"; "" for a save that changed nothing (a form saves every row it shows)."""
    name = record.title if kind == "Test case" else record.name
    fields = changed_fields(record)
    if record.history_type == "~" and not fields:
        return ""
    detail = f" ({', '.join(fields)})" if fields else ""
    return f"{kind} “{name}” {TYPE_NAMES[record.history_type]}{detail}"


def _feature_text(case, scenarios: list) -> str:
    return gherkin.feature_text(
        case.title,
        [gherkin.ScenarioText(s.name, s.steps, list(s.tags or [])) for s in scenarios],
        description=case.objective,
        tags=[f"@{case.test_type.lower()}", f"@priority-{case.priority}"],
    )


def gherkin_diff(before: str, after: str) -> list[tuple[str, str]]:
    """A line diff for people: [(css class, line)] with "add", "del", "hunk" or "same" (difflib, 2 lines of context)."""
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=2)
    result = []
    for line in lines:
        if line.startswith(("---", "+++")):
            continue
        kind = {"@": "hunk", "+": "add", "-": "del"}.get(line[:1], "same")
        result.append((kind, line))
    return result


# --- Restoring ------------------------------------------------------------------------------------------------


class RestoreError(Exception):
    """The test case cannot be restored; `str()` says why, for a person."""


def deleted_test_case(test_case_id: int):
    """The historical row of a deleted test case (its last row, of type "-"), or None."""
    from stories.models import TestCase

    last = TestCase.history.filter(id=test_case_id).order_by("-history_date").first()
    return last if last is not None and last.history_type == "-" else None


@transaction.atomic
def restore_test_case(test_case_id: int, user):
    """Bring a deleted test case back, with the same id and the scenarios it had when it was deleted."""
    from stories.models import Scenario, TestCase, UserStory

    record = deleted_test_case(test_case_id)
    if record is None or TestCase.objects.filter(pk=test_case_id).exists():
        raise RestoreError("This test case is not deleted.")
    if not UserStory.objects.filter(pk=record.story_id).exists():
        raise RestoreError("Its story was deleted too: restore or re-create the story first.")
    # The scenarios deleted with it (the cascade deletes them just before the test case itself).
    window_start = record.history_date - SAME_EDIT
    scenario_records = {}
    for r in Scenario.history.filter(test_case_id=test_case_id).order_by("history_date"):
        scenario_records[r.id] = r
    with recorded_as(user, "restored"):
        test_case = record.instance
        test_case.save(force_insert=True)
        for r in scenario_records.values():
            if r.history_type == "-" and window_start <= r.history_date <= record.history_date:
                r.instance.save(force_insert=True)
    return test_case
