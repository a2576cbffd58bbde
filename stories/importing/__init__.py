"""Import user stories from tracker exports — Jira CSV, Azure DevOps CSV, GitHub issues JSON — or QAForge's own CSV
and JSON, upserting by key.

The format is recognised from the header row or the JSON's shape (`formats.py`); the file is read as text with line
numbers, stray quotes and oversized fields caught (`reading.py`); tracker markup becomes clean text and criteria
(`text.py`); statuses, priorities and types are mapped with warnings instead of aborts (`formats.py`).

All or nothing, in two passes. The check pass reads the file and converts and checks every row (the model fields'
checks, duplicate keys, project keys, permissions), collecting errors and warnings and keeping the converted rows in
a temporary file (`plan.py`); only when there are no errors does the write pass read those rows back and write them,
in one transaction, a chunk at a time, with one executemany per statement (`stories.bulk`) and their history (a
re-import that changes nothing skips it). CSV rows stream from the file and the keys seen so far live in a temporary
SQLite database, so memory stays flat however long the file is; a JSON file is parsed whole, as json needs.
Existing stories are looked up a chunk at a time.

`import_stories()` is the entry point; the `import_stories` management command and the import page's job call it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.db import transaction

from stories import bulk, history
from stories import criteria as ac
from stories.importing.convert import Converter
from stories.importing.formats import FORMAT_CHOICES, Format
from stories.importing.plan import Plan, SeenKeys
from stories.importing.reading import ImportFailed, RawRow, read_rows
from stories.importing.text import split_criteria
from stories.keys import normalise_key
from stories.models import CRITERIA_FIELDS, Project, UserStory, project_key_validator

__all__ = ["FORMATS", "ImportFailed", "ImportSummary", "import_stories", "split_criteria"]

FORMATS = FORMAT_CHOICES
CHUNK_ROWS = 1000  # rows per existing-key lookup and per bulk write
PROGRESS_EVERY = 5000  # rows between progress messages (so small files print none)
MAX_ERRORS_SHOWN = 50
MAX_WARNINGS_SHOWN = 50
# The story fields an import can set, compared to decide between "updated" and "unchanged".
STORY_FIELDS = (
    "title",
    "description",
    "acceptance_criteria",
    "priority",
    "status",
    "labels",
    "external_url",
    "issue_type",
    "tracker_status",
)


@dataclass
class ImportSummary:
    format: str = ""  # the recognised format's label, e.g. "Jira CSV export"
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    projects_created: list[str] = field(default_factory=list)
    types: Counter = field(default_factory=Counter)  # tracker type -> rows ("" when the file has none)
    skipped: Counter = field(default_factory=Counter)  # type -> rows left out by `types`
    warnings: dict[str, list] = field(default_factory=dict)  # message -> [rows, first location]
    dry_run: bool = False

    def __str__(self) -> str:
        text = f"created {self.created}, updated {self.updated}, unchanged {self.unchanged}"
        if self.skipped:
            text += f", skipped {sum(self.skipped.values())} ({_counts(self.skipped)})"
        if self.projects_created:
            verb = "would create" if self.dry_run else "created"
            text += (
                f"; {verb} project{'s' if len(self.projects_created) > 1 else ''} {', '.join(self.projects_created)}"
            )
        if self.dry_run:
            text += " (dry run, nothing written)"
        return text

    def warn(self, message: str, where: str) -> None:
        if message in self.warnings:
            self.warnings[message][0] += 1
        elif len(self.warnings) < MAX_WARNINGS_SHOWN:
            self.warnings[message] = [1, where]

    def warning_lines(self) -> list[str]:
        """Each distinct warning once, with how many rows it concerns and where it first occurs."""
        return [
            f"{message} — {n} row{'s' if n != 1 else ''}, first on {where}"
            for message, (n, where) in self.warnings.items()
        ]

    def types_line(self) -> str:
        return _counts(self.types) if any(self.types) else ""


def _counts(counter: Counter) -> str:
    return ", ".join(f"{name or '(no type)'} {n:,}" for name, n in counter.most_common())


# --- Importing ------------------------------------------------------------------------------------------------------


class _Pass:
    """One walk over the rows: validates them all; with write=True (in a transaction) also saves them."""

    def __init__(
        self,
        *,
        fmt: Format,
        default_project: str | None,
        types: set[str] | None,
        write: bool,
        progress: Callable[[str], None] | None,
        editable_project_ids: set[int] | None = None,
        progress_every: int | None = None,
        project_name: str = "",
    ):
        self.project_name = project_name
        self.created_project_ids: set[int] = set()
        self.plan: Plan | None = None  # the check pass keeps its converted rows here for the write pass
        self.editable_project_ids = editable_project_ids
        self.progress_every = progress_every or PROGRESS_EVERY
        self.convert = Converter(fmt, default_project)
        self.types = types
        self.default_project = default_project
        self.write = write
        self.progress = progress
        self.summary = ImportSummary(format=fmt.label)
        self.errors: list[str] = []
        self.error_count = 0
        self.seen: SeenKeys | None = None  # the check pass's keys so far
        self.project_ids: dict[str, int | None] = {}  # None: valid key, project not yet created
        self.project_problems: dict[str, str] = {}
        self.rows = 0

    def fail(self, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS_SHOWN:
            self.errors.append(message)

    def run(self, rows: Iterable[RawRow]) -> None:
        """The check pass: convert and check every row (keeping them in `self.plan` when there is one)."""
        if self.default_project:
            self._resolve_projects({self.default_project: self.project_name})
        self.seen = SeenKeys()
        pending: list[tuple[RawRow, dict[str, Any], list]] = []
        try:
            for row in rows:
                self.rows += 1
                if self.progress and self.rows % self.progress_every == 0:
                    self.progress(f"checking: {self.rows:,} rows")
                if row.problems and not row.values:  # unreadable as a row (merged, too many cells): nothing to convert
                    pending.append((row, {}, row.problems))
                else:
                    values, problems, warnings = self.convert(row)
                    kind = values.get("issue_type", "")
                    self.summary.types[kind] += 1
                    if self.types is not None and kind.lower() not in self.types:
                        self.summary.skipped[kind] += 1
                        continue
                    for warning in warnings:
                        self.summary.warn(warning, row.short)
                    pending.append((row, values, row.problems + problems))
                if len(pending) >= CHUNK_ROWS:
                    self._check(pending)
                    pending = []
            if pending:
                self._check(pending)
        finally:
            self.seen.close()
        self.summary.rows = self.rows

    def _check(self, pending: list[tuple[RawRow, dict[str, Any], list]]) -> None:
        """Report the rows' problems, in file order, and a key given twice in the file; go on with the rest."""
        places = self.seen.first_places(list({values["key"] for _, values, _ in pending if values.get("key")}))
        new_places: dict[str, str] = {}
        batch = []
        for row, values, problems in pending:
            key = values.get("key")
            if key in places:
                problems = [*problems, ("key", f'"{key}" is also on {places[key]} (a key may appear once per file)')]
            elif key:
                places[key] = new_places[key] = row.short
            if problems:
                for field_name, problem in problems:
                    self.fail(row.error(field_name, problem))
                continue
            batch.append((row, values))
        self.seen.add(new_places)
        if batch:
            self._apply(batch)

    def run_plan(self, plan: Plan, checked: ImportSummary) -> None:
        """The write pass: write the rows the check pass converted and kept, without reading or converting them
        again."""
        if self.default_project:
            self._resolve_projects({self.default_project: self.project_name})
        for batch in plan.batches():
            self._apply(batch)
            self.rows += len(batch)
            if self.progress:
                self.progress(f"writing: {self.rows:,} rows")
        for name in ("rows", "types", "skipped", "warnings"):
            setattr(self.summary, name, getattr(checked, name))

    def _refused(self, project_key: str | None, project_id: int | None, stored: dict | None) -> str:
        """Why this user may not write this row ("" when they may): both the story's current project and the one
        the import puts it in must be projects the user edits (`editable_project_ids`; None: no limit)."""
        allowed = self.editable_project_ids
        if allowed is None:
            return ""
        if project_id is not None and project_id not in allowed and project_id not in self.created_project_ids:
            return f'you are not an editor of project "{project_key}"; ask one of its owners for access'
        if stored is not None and stored["project_id"] is not None and stored["project_id"] not in allowed:
            return f"story {stored['key']} belongs to a project you are not an editor of"
        return ""

    def _resolve_projects(self, wanted: dict[str, str]) -> None:
        """Look up (and when writing, create) the projects named; remember bad keys to report on each row."""
        missing = [key for key in wanted if key not in self.project_ids and key not in self.project_problems]
        if not missing:
            return
        found = dict(Project.objects.filter(key__in=missing).values_list("key", "id"))
        for key in missing:
            if key in found:
                self.project_ids[key] = found[key]
                continue
            project = Project(key=key, name=wanted[key] or key)
            try:
                project.full_clean(validate_unique=False)
            except ValidationError as error:
                problems = error.message_dict
                if "key" in problems:
                    self.project_problems[key] = f'"{key}" is not a valid project key: {" ".join(problems["key"])}'
                else:
                    details = " ".join(m for messages in problems.values() for m in messages)
                    self.project_problems[key] = f'project "{key}" cannot be created: {details}'
                continue
            if self.write:
                project.save()
                self.project_ids[key] = project.pk
                self.created_project_ids.add(project.pk)  # the importer's own: it may fill them
            else:
                self.project_ids[key] = None
            self.summary.projects_created.append(key)

    def _apply(self, batch: list[tuple[RawRow, dict[str, Any]]]) -> None:
        if self.plan is not None:
            self.plan.add(batch)
        wanted: dict[str, str] = {}
        for _, values in batch:
            if "project" in values and not wanted.get(values["project"]):
                wanted[values["project"]] = values.get("project_name", "")
        self._resolve_projects(wanted)
        # Plain values, not model instances: most rows of a re-import are unchanged and need no instance at all, and
        # the write pass writes dicts (stories.bulk).
        stored_rows = UserStory.objects.filter(key__in=[values["key"] for _, values in batch]).values(*_STORED)
        existing = {stored["key"]: stored for stored in stored_rows}
        to_create: list[dict[str, Any]] = []
        to_update: list[dict[str, Any]] = []
        changed_fields: set[str] = set()
        for row, values in batch:
            project_key = values.get("project") or self.default_project
            if project_key in self.project_problems:
                self.fail(row.error("project" if "project" in values else None, self.project_problems[project_key]))
                continue
            stored = existing.get(values["key"])
            project_id = self.project_ids[project_key] if project_key else None
            refused = self._refused(project_key, project_id, stored)
            if refused:
                self.fail(row.error("project" if "project" in values else "key", refused))
                continue
            # None for a project this import creates: it differs from whatever is stored.
            project_changed = bool(project_key) and (
                project_id is None or project_id != (stored or {}).get("project_id")
            )
            if stored is not None and not project_changed:
                # The converted values are already normalised the way the model's clean() would leave them.
                if all(values[name] == stored[name] for name in STORY_FIELDS if name in values):
                    self.summary.unchanged += 1
                    continue
            if not self.write:  # the write pass writes rows the check passed (or that equalled a stored story)
                problems = _field_problems(values)
                if problems:
                    for name, message in problems:
                        self.fail(row.error(name if name in row.columns else None, message))
                    continue
            given = {name: values[name] for name in STORY_FIELDS if name in values}
            if project_key:
                given["project_id"] = project_id
            if stored is None:
                self.summary.created += 1
                if self.write:
                    # No save(), which numbers the criteria (stories.criteria): number them here.
                    n = len(given.get("acceptance_criteria", []))
                    numbers = {"criteria_numbers": list(range(1, n + 1)), "criteria_next_number": n + 1}
                    to_create.append({"key": values["key"], **given, **numbers, "criteria_count": n})
                continue
            story = {**stored, **given}
            changed = [name for name in STORY_FIELDS if story[name] != stored[name]]
            if "acceptance_criteria" in changed:
                story["criteria_numbers"], story["criteria_next_number"] = ac.renumber(
                    stored["acceptance_criteria"],
                    stored["criteria_numbers"],
                    story["acceptance_criteria"],
                    stored["criteria_next_number"],
                )
                story["criteria_count"] = len(story["acceptance_criteria"])
                # Criteria kept their numbers where their text did; coverage is recounted when scenarios change.
                story["criteria_covered"] = min(stored["criteria_covered"], story["criteria_count"])
                changed.extend(CRITERIA_FIELDS)
            if project_changed:
                changed.append("project")
            if changed:
                self.summary.updated += 1
                changed_fields.update(changed)
                to_update.append(story)
            else:
                self.summary.unchanged += 1
        if self.write and not self.error_count:
            _write(to_create, to_update, sorted(changed_fields))


# What the importer reads of a stored story: to compare, to renumber criteria, and (all tracked fields) for history.
_STORED = ("id", "key", "project_id", "created_at", *STORY_FIELDS, *CRITERIA_FIELDS)


def _write(to_create: list[dict[str, Any]], to_update: list[dict[str, Any]], changed_fields: list[str]) -> None:
    """Write one batch with one executemany per statement (stories.bulk), and its history as the ORM would record it:
    who imported (stories.history.recorded_as) and why."""
    bulk.insert(UserStory, to_create)
    if to_create:
        ids = dict(UserStory.objects.filter(key__in=[s["key"] for s in to_create]).values_list("key", "id"))
        for story in to_create:
            story["id"] = ids[story["key"]]
        history.record_rows(UserStory, to_create, update=False)
    bulk.update(UserStory, to_update, changed_fields)
    history.record_rows(UserStory, to_update, update=True)


_VALIDATED = {name: UserStory._meta.get_field(name) for name in ("key", *STORY_FIELDS)}


def _field_problems(values: dict[str, Any]) -> list[tuple[str, str]]:
    """The model fields' own checks (length, key pattern, URL, choices) on the values the row gives.

    What full_clean() would say about them, without building a model instance per row (that cost ~40% of a dry
    run, measured). The converter already leaves lists and texts the way UserStory.clean() would."""
    problems = []
    for name, model_field in _VALIDATED.items():
        if name in values:
            try:
                model_field.clean(values[name], None)
            except ValidationError as error:
                problems.append((name, " ".join(error.messages)))
    return problems


def import_stories(
    path_or_file: str | os.PathLike | IO,
    *,
    project_key: str | None = None,
    fmt: str = "auto",
    types: Iterable[str] | None = None,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
    progress_every: int | None = None,
    editable_project_ids: set[int] | None = None,
    name: str | None = None,
    project_name: str = "",
) -> ImportSummary:
    """Import the stories in a tracker export or a QAForge CSV/JSON file (a path, or an open binary file).

    Upserts by story key; writes nothing unless every row is valid (raises ImportFailed listing the problems, each
    naming the file, line and column). `project_key` is given to stories the file leaves without a project and put
    in front of numeric ids (Azure DevOps, GitHub); unknown project keys are created. `types` keeps only rows of
    those tracker types (case-insensitive). `progress` is called with a short message every `progress_every` rows
    (PROGRESS_EVERY). `editable_project_ids` limits the rows to stories in those projects (the user's, from
    stories.permissions; None for the command line, which trusts its operator).
    """
    if fmt not in FORMATS:
        raise ImportFailed([f'unknown format "{fmt}" (use {", ".join(FORMATS)})'])
    if project_key is not None:
        project_key = normalise_key(project_key)
        try:
            project_key_validator(project_key)
        except ValidationError as error:
            problem = f'--project "{project_key}" is not a valid project key: {" ".join(error.messages)}'
            raise ImportFailed([problem]) from None
    wanted_types = {t.strip().lower() for t in types if t.strip()} if types is not None else None
    options = {
        "project_key": project_key,
        "fmt": fmt,
        "types": wanted_types,
        "dry_run": dry_run,
        "settings": {
            "progress": progress,
            "progress_every": progress_every,
            "editable_project_ids": editable_project_ids,
            "project_name": project_name,
        },
    }
    if isinstance(path_or_file, str | os.PathLike):
        path = Path(path_or_file)
        name = str(path_or_file)
        if not path.exists():
            raise ImportFailed([f"{name}: no such file"])
        if path.is_dir():
            raise ImportFailed([f"{name} is a directory, not a file"])
        with open(path, "rb") as stream:
            return _import_stream(stream, name, **options)
    name = name or Path(getattr(path_or_file, "name", None) or "upload").name
    if path_or_file.seekable():
        return _import_stream(path_or_file, name, **options)
    # The file is read twice (check, then write), so a pipe is first copied to a temporary file.
    with tempfile.TemporaryFile() as copy:
        shutil.copyfileobj(path_or_file, copy)
        copy.seek(0)
        return _import_stream(copy, name, **options)


def _import_stream(stream: IO, name: str, *, project_key, fmt, types, dry_run, settings) -> ImportSummary:
    fmt_used, rows = read_rows(stream, name, fmt)
    if fmt_used.numeric_keys and not project_key:
        raise ImportFailed(
            [
                f"{name}: a {fmt_used.label} numbers its items; choose the project they belong to "
                f"(--project KEY: item 18540 becomes KEY-18540)"
            ]
        )
    settings = {"fmt": fmt_used, "default_project": project_key, "types": types, **settings}

    check = _Pass(write=False, **settings)
    check.plan = Plan() if not dry_run else None
    try:
        try:
            check.run(rows)
        except ImportFailed as failure:  # unreadable file: report it after the row problems found before it
            for error in failure.errors:
                check.fail(error)
        if check.error_count:
            raise ImportFailed(check.errors, check.error_count)
        if dry_run:
            check.summary.dry_run = True
            return check.summary
        if not (check.summary.created or check.summary.updated or check.summary.projects_created):
            return check.summary  # a re-import of an unchanged file: no second pass, no write lock
        with transaction.atomic():
            write = _Pass(write=True, **settings)
            write.run_plan(check.plan, check.summary)
            if write.error_count:  # the database changed between the passes; the transaction rolls back
                raise ImportFailed(write.errors, write.error_count)
        return write.summary
    finally:
        if check.plan is not None:
            check.plan.close()
