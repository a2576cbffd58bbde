"""Import user stories from a CSV file (our column names or Jira's CSV export) or a JSON file, upserting by key.

All or nothing: the file is read twice. The first pass parses and validates every row (model `full_clean`, duplicate
keys, priorities, statuses, project keys) and collects the errors; only when there are none does the second pass write,
in one transaction, in chunks (a re-import that changes nothing skips it). CSV rows stream from the file both times,
so memory stays flat however long the file is (only the set of keys seen is kept); a JSON file is parsed whole, as
json needs. Existing stories are looked up a chunk at a time. Measured with a 50,000-row Jira-style CSV (19 MB) on
SQLite, 2 busy cores: check only ~8–14 s, first import ~27 s, unchanged re-import ~10 s, 50,000 updates ~23 s;
peak memory 13–27 MB above the 102 MB a bare `manage.py` process uses.

`import_stories()` is the entry point; the `import_stories` management command and any view call it.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from stories.keys import normalise_key
from stories.models import Priority, Project, UserStory, project_key_validator

FORMATS = ("auto", "csv", "json")
CHUNK_ROWS = 1000  # rows per existing-key lookup and per bulk write
PROGRESS_EVERY = 5000  # rows between progress messages (so small files print none)
MAX_ERRORS_SHOWN = 50
_READ_BYTES = 1 << 16
_BOM = b"\xef\xbb\xbf"

# Canonical field -> the header names that mean it, normalised (lower case, single spaces; "Custom field (X)" -> "x").
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "key": ("key", "issue key", "story key"),
    "title": ("title", "summary"),
    "description": ("description",),
    "acceptance_criteria": ("acceptance criteria",),
    "priority": ("priority",),
    "status": ("status",),
    "labels": ("labels", "label"),
    "project": ("project", "project key"),
    "project_name": ("project name",),
    "external_url": ("url", "external url", "external link", "link"),
}
_ALIAS_TO_FIELD = {alias: name for name, aliases in FIELD_ALIASES.items() for alias in aliases}
# Jira repeats the "Labels" column once per label; every other field must appear once.
_REPEATABLE = {"labels"}
# The story fields an import can set, compared to decide between "updated" and "unchanged".
STORY_FIELDS = ("title", "description", "acceptance_criteria", "priority", "status", "labels", "external_url")

PRIORITY_NAMES = {
    "highest": Priority.HIGHEST,
    "blocker": Priority.HIGHEST,
    "high": Priority.HIGH,
    "critical": Priority.HIGH,
    "medium": Priority.MEDIUM,
    "major": Priority.MEDIUM,
    "normal": Priority.MEDIUM,
    "low": Priority.LOW,
    "minor": Priority.LOW,
    "lowest": Priority.LOWEST,
    "trivial": Priority.LOWEST,
}
Status = UserStory.Status
STATUS_NAMES = {
    "backlog": Status.BACKLOG,
    "todo": Status.TODO,
    "open": Status.TODO,
    "new": Status.TODO,
    "selectedfordevelopment": Status.TODO,
    "inprogress": Status.IN_PROGRESS,
    "indevelopment": Status.IN_PROGRESS,
    "inreview": Status.IN_REVIEW,
    "review": Status.IN_REVIEW,
    "codereview": Status.IN_REVIEW,
    "intesting": Status.IN_REVIEW,
    "inqa": Status.IN_REVIEW,
    "done": Status.DONE,
    "closed": Status.DONE,
    "resolved": Status.DONE,
}


@dataclass
class ImportSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    projects_created: list[str] = field(default_factory=list)
    dry_run: bool = False

    def __str__(self) -> str:
        text = f"created {self.created}, updated {self.updated}, unchanged {self.unchanged}"
        if self.projects_created:
            verb = "would create" if self.dry_run else "created"
            text += (
                f"; {verb} project{'s' if len(self.projects_created) > 1 else ''} {', '.join(self.projects_created)}"
            )
        if self.dry_run:
            text += " (dry run, nothing written)"
        return text


class ImportFailed(Exception):
    """The file was not imported (nothing was written). `errors` holds the first problems, `total` counts them all."""

    def __init__(self, errors: list[str], total: int | None = None):
        self.errors = list(errors)
        self.total = len(self.errors) if total is None else total
        super().__init__(self.message)

    @property
    def message(self) -> str:
        lines = list(self.errors)
        if self.total > len(self.errors):
            lines.append(f"… and {self.total - len(self.errors)} more")
        return "\n".join(lines)


# --- Reading ------------------------------------------------------------------------------------------------------


def _normalise_header(header: str) -> str:
    text = re.sub(r"[\s_\-]+", " ", header.replace("\ufeff", "").strip().lower())
    custom = re.fullmatch(r"custom field \((.*)\)", text)
    return custom.group(1).strip() if custom else text


def _text_chunks(stream: IO, name: str) -> Iterator[str]:
    """Decode a stream as UTF-8 piece by piece (a leading BOM is dropped); fail with the byte offset, never guess."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    offset = 0  # bytes handed to the decoder so far
    newlines = 0
    first = True
    while True:
        chunk = stream.read(_READ_BYTES)
        eof = not chunk
        if isinstance(chunk, str):  # a text stream (e.g. io.StringIO) is already decoded
            if first and chunk.startswith("\ufeff"):
                chunk = chunk[1:]
            first = False
            if eof:
                return
            yield chunk
            continue
        if first:
            first = False
            if chunk.startswith(_BOM):
                chunk, offset = chunk[len(_BOM) :], len(_BOM)
        pending = decoder.getstate()[0]
        try:
            text = decoder.decode(chunk, final=eof)
        except UnicodeDecodeError as error:
            data = pending + chunk
            position = offset - len(pending) + error.start
            line = newlines + data[: error.start].count(b"\n") + 1
            raise ImportFailed(
                [
                    f"{name}, line {line}: the file is not UTF-8 text (byte 0x{data[error.start]:02X} at byte offset "
                    f"{position} cannot be read); save it as UTF-8 (in Excel: “CSV UTF-8”) and import it again"
                ]
            ) from None
        offset += len(chunk)
        newlines += text.count("\n")
        if text:
            yield text
        if eof:
            return


_EOL = re.compile(r"\r\n|\r|\n")


def _physical_lines(chunks: Iterable[str]) -> Iterator[str]:
    """Lines with their endings, one per physical line, so the csv module's line_num is the file's line number."""
    rest = ""
    for text in chunks:
        text = rest + text if rest else text
        start = 0
        for match in _EOL.finditer(text):
            if match.group() == "\r" and match.end() == len(text):
                break  # maybe the first half of a \r\n split across chunks
            yield text[start : match.end()]
            start = match.end()
        rest = text[start:]
    if rest:
        yield rest


@dataclass
class RawRow:
    """One story as found in the file, before any checks, with what is needed to point at it in a message."""

    location: str  # "stories.csv, line 14"
    short: str  # "line 14", used when another row refers to this one
    values: dict[str, Any]
    columns: dict[str, str]  # field -> the column or field name as written in the file
    word: str  # "column" or "field"
    problems: list[tuple[str | None, str]] = field(default_factory=list)  # found while reading: (field, problem)

    def error(self, field_name: str | None, problem: str) -> str:
        if field_name is None or field_name not in self.columns:
            return f"{self.location}: {problem}"
        return f'{self.location}, {self.word} "{self.columns[field_name]}": {problem}'


def _csv_rows(stream: IO, name: str) -> Iterator[RawRow]:
    chunks = _text_chunks(stream, name)
    first = next(chunks, "")
    header_line = next((line for line in first.splitlines() if line.strip()), "")
    # Excel in many locales saves CSV with semicolons; pick the separator the header row uses most.
    delimiter = max((",", ";", "\t"), key=header_line.count)
    reader = csv.reader(_physical_lines(_chain(first, chunks)), delimiter=delimiter, strict=True)

    header: list[str] | None = None
    columns: dict[str, list[int]] = {}
    previous_line = 0
    try:
        for cells in reader:
            line, previous_line = previous_line + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = cells
                columns = _map_header(header, name, line)
                display = {f: header[indexes[0]].strip() for f, indexes in columns.items()}
                continue
            extra = [c for c in cells[len(header) :] if c.strip()]
            if extra:
                problem = (
                    f"the row has {len(cells)} cells but the header has {len(header)} columns "
                    "(is a comma inside a cell missing its quotes?)"
                )
                yield RawRow(f"{name}, line {line}", f"line {line}", {}, display, "column", [(None, problem)])
                continue
            values: dict[str, Any] = {}
            for field_name, indexes in columns.items():
                found = [cells[i] for i in indexes if i < len(cells)]
                values[field_name] = found if field_name in _REPEATABLE else (found[0] if found else "")
            yield RawRow(f"{name}, line {line}", f"line {line}", values, display, "column")
    except csv.Error as error:
        raise ImportFailed([f"{name}, line {reader.line_num}: the CSV is malformed ({error})"]) from None
    if header is None:
        raise ImportFailed([f"{name} is empty: expected a header row such as key,title,acceptance_criteria"])


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _map_header(header: list[str], name: str, line: int) -> dict[str, list[int]]:
    columns: dict[str, list[int]] = {}
    problems = []
    for index, title in enumerate(header):
        field_name = _ALIAS_TO_FIELD.get(_normalise_header(title))
        if field_name is None:
            continue  # Jira exports carry dozens of columns we have no use for
        if field_name in columns and field_name not in _REPEATABLE:
            problems.append(
                f'{name}, line {line}: columns "{header[columns[field_name][0]].strip()}" and "{title.strip()}" '
                f"both give the {field_name.replace('_', ' ')}; keep one"
            )
        columns.setdefault(field_name, []).append(index)
    for required, jira_name in (("key", "Issue key"), ("title", "Summary")):
        if required not in columns:
            found = ", ".join(f'"{h.strip()}"' for h in header if h.strip())
            problems.append(
                f'{name}, line {line}: no "{required}" column (Jira\'s "{jira_name}" works too); '
                f"the header row has {found}"
            )
    if problems:
        raise ImportFailed(problems)
    return columns


def _json_rows(stream: IO, name: str) -> Iterator[RawRow]:
    text = "".join(_text_chunks(stream, name))
    if not text.strip():
        raise ImportFailed(
            [f'{name} is empty: expected a JSON list of stories, e.g. [{{"key": "SHOP-1", "title": …}}]']
        )
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ImportFailed(
            [f"{name}, line {error.lineno}, column {error.colno}: malformed JSON ({error.msg})"]
        ) from None
    if isinstance(document, dict) and isinstance(document.get("stories"), list):
        items = document["stories"]
    elif isinstance(document, list):
        items = document
    else:
        raise ImportFailed([f'{name}: expected a list of stories or {{"stories": [...]}} at the top level'])
    lines = _json_item_lines(text, len(items))
    for index, item in enumerate(items, start=1):
        where = f"item {index}" + (f" (line {lines[index - 1]})" if lines else "")
        if not isinstance(item, dict):
            problem = f"expected an object with a key and a title, got {_json_type(item)}"
            yield RawRow(f"{name}, {where}", where, {}, {}, "field", [(None, problem)])
            continue
        values: dict[str, Any] = {}
        columns: dict[str, str] = {}
        problems = []
        for raw_name, value in item.items():
            field_name = _ALIAS_TO_FIELD.get(_normalise_header(str(raw_name)))
            if field_name is None:
                continue
            if field_name in values:
                problems.append((field_name, f'"{columns[field_name]}" and "{raw_name}" both give the {field_name}'))
            values[field_name] = value
            columns[field_name] = raw_name
        for field_name in ("key", "title"):
            columns.setdefault(field_name, field_name)  # so "is missing" can name it
        yield RawRow(f"{name}, {where}", where, values, columns, "field", problems)


def _json_item_lines(text: str, count: int) -> list[int]:
    """The line each item of the stories list starts on (found by walking the already validated JSON)."""
    decoder = json.JSONDecoder()
    ws = re.compile(r"[ \t\n\r]*")
    i = ws.match(text).end()
    try:
        if text[i] == "{":
            i = ws.match(text, i + 1).end()
            array_at = None
            while text[i] != "}":
                key, i = decoder.raw_decode(text, i)
                i = ws.match(text, ws.match(text, i).end() + 1).end()  # past the colon
                if key == "stories":
                    array_at = i
                _, i = decoder.raw_decode(text, i)
                i = ws.match(text, i).end()
                if text[i] == ",":
                    i = ws.match(text, i + 1).end()
            if array_at is None:
                return []
            i = array_at
        starts = []
        i = ws.match(text, i + 1).end()  # past the [
        line, counted_to = 1, 0
        while text[i] != "]":
            line += text.count("\n", counted_to, i)
            counted_to = i
            starts.append(line)
            _, i = decoder.raw_decode(text, i)
            i = ws.match(text, i).end()
            if text[i] == ",":
                i = ws.match(text, i + 1).end()
        return starts if len(starts) == count else []
    except (ValueError, IndexError):  # line numbers are a courtesy; the items themselves came from json.loads
        return []


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list", dict: "an object"}[
        type(value)
    ]


# --- Converting one row ---------------------------------------------------------------------------------------------

_BULLET = re.compile(r"^(?:[-*•–]\s+|#\s+|\d{1,3}[.)]\s+|\(\d{1,3}\)\s+|AC\s*\d{1,3}\s*[:.)\-]\s*)", re.IGNORECASE)
_GWT_START = re.compile(r"^(?:given|when)\b", re.IGNORECASE)
_AND = re.compile(r"^(?:and|but)\b", re.IGNORECASE)
_WHEN = re.compile(r"^when\b", re.IGNORECASE)
_THEN = re.compile(r"^then\b", re.IGNORECASE)
_HEADING = re.compile(r"^(?:h\d\.\s*)?(?:\*\s*)?acceptance criteria\s*:?\s*(?:\*\s*)?$", re.IGNORECASE)


def split_criteria(text: str) -> list[str]:
    """Split one cell of acceptance criteria into items.

    Items are separated by new lines or bullet markers ("- ", "* ", "1.", "#"). A Given/When/Then criterion written
    over several lines stays one item: a line starting with And/But, or a When/Then that the criterion still lacks,
    continues it. When the cell uses bullets, an unmarked line continues the item above (a wrapped line).
    """
    lines = [line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    uses_bullets = any(_BULLET.match(line) for line in lines)
    items: list[list[str]] = []
    current: list[str] | None = None
    for line in lines:
        if not line:
            current = None  # a blank line always ends a criterion
            continue
        if _HEADING.match(line):
            continue
        bullet = _BULLET.match(line)
        if bullet:
            line = line[bullet.end() :].strip()
            if not line:
                continue
        if current is not None and _continues(current, line, bulleted=bool(bullet), uses_bullets=uses_bullets):
            current.append(line)
            continue
        current = [line]
        items.append(current)
    return ["\n".join(item) for item in items]


def _continues(current: list[str], line: str, *, bulleted: bool, uses_bullets: bool) -> bool:
    if _GWT_START.match(current[0]):
        has_then = any(_THEN.match(previous) for previous in current)
        if _AND.match(line):
            return True
        if _WHEN.match(line) and not has_then and not _WHEN.match(current[-1]):
            return True
        if _THEN.match(line) and not has_then:
            return True
    return uses_bullets and not bulleted and not _GWT_START.match(line)


def _split_labels(value: str) -> list[str]:
    # Jira labels cannot contain spaces, so spaces separate labels as well as commas and semicolons.
    return [label for label in re.split(r"[\s,;]+", value) if label]


def _choice_key(value: str) -> str:
    return re.sub(r"[\s_\-]+", "", value.strip().lower())


class _RowProblem(Exception):
    def __init__(self, field_name: str | None, problem: str):
        self.field_name, self.problem = field_name, problem


def _text(row: RawRow, field_name: str, *, multiline: bool = True) -> str:
    value = row.values.get(field_name)
    if value is None:
        return ""
    if not isinstance(value, str):
        hint = " (put it in quotes)" if isinstance(value, int | float) and not isinstance(value, bool) else ""
        raise _RowProblem(field_name, f"must be text, got {_json_type(value)}{hint}")
    value = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    return value if multiline else " ".join(value.split())


def _text_list(row: RawRow, field_name: str, split: Callable[[str], list[str]]) -> list[str]:
    value = row.values.get(field_name)
    if value is None:
        return []
    if isinstance(value, str):
        return split(value)
    if isinstance(value, list):
        result = []
        for item in value:
            if not isinstance(item, str):
                raise _RowProblem(field_name, f"every item must be text, found {_json_type(item)}")
            # A list from the CSV (Jira's repeated Labels columns) may still hold several labels in one cell.
            result.extend(split(item) if split is _split_labels else [item.replace("\r\n", "\n").strip()])
        return [item for item in result if item]
    raise _RowProblem(field_name, f"must be a list of texts or one text, got {_json_type(value)}")


def _convert(row: RawRow) -> tuple[dict[str, Any], list[tuple[str | None, str]]]:
    """The row's values as model values, and its problems.

    Only the fields the row provides are in the values: an absent column leaves a stored story's field alone.
    """
    values: dict[str, Any] = {}
    problems: list[tuple[str | None, str]] = []
    provided = row.values

    def attempt(field_name: str, convert: Callable[[], Any]) -> None:
        try:
            values[field_name] = convert()
        except _RowProblem as problem:
            problems.append((problem.field_name, problem.problem))

    for field_name, empty in (
        ("key", "is empty (every story needs a key, e.g. SHOP-12)"),
        ("title", "is empty (every story needs a title)"),
    ):
        if field_name not in provided:
            problems.append((field_name, "is missing"))
            continue
        attempt(field_name, lambda f=field_name: _text(row, f, multiline=False))
        if field_name == "key" and values.get("key"):
            values["key"] = normalise_key(values["key"])
        if values.get(field_name) == "":
            problems.append((field_name, empty))
    if "description" in provided:
        attempt("description", lambda: _text(row, "description"))
    if "acceptance_criteria" in provided:
        attempt("acceptance_criteria", lambda: _text_list(row, "acceptance_criteria", split_criteria))
    if "labels" in provided:
        # dict.fromkeys: merged Jira columns may repeat a label
        attempt("labels", lambda: list(dict.fromkeys(_text_list(row, "labels", _split_labels))))
    if "external_url" in provided:
        attempt("external_url", lambda: _text(row, "external_url", multiline=False))
    for field_name, names, choices in (("priority", PRIORITY_NAMES, Priority), ("status", STATUS_NAMES, Status)):
        if field_name in provided:
            attempt(field_name, lambda f=field_name, n=names, c=choices: _choice(row, f, n, c))
            if values.get(field_name) is None:
                values.pop(field_name, None)  # empty: new stories get the default, existing ones keep theirs
    if "project" in provided:
        attempt("project", lambda: normalise_key(_text(row, "project", multiline=False)))
        if not values.get("project"):
            values.pop("project", None)  # no project given: --project or the stored one applies
        elif "project_name" in provided:
            attempt("project_name", lambda: _text(row, "project_name", multiline=False))
    return values, problems


def _choice(row: RawRow, field_name: str, names: dict[str, str], choices) -> str | None:
    raw = _text(row, field_name, multiline=False)
    if not raw:
        return None
    choice = names.get(_choice_key(raw)) or next((c for c in choices if c.value == raw), None)
    if choice is None:
        allowed = ", ".join(label for label in choices.labels)
        raise _RowProblem(field_name, f'"{raw}" is not a {field_name} (use {allowed})')
    return choice.value


# --- Importing ------------------------------------------------------------------------------------------------------


class _Pass:
    """One walk over the rows: validates them all; with write=True (in a transaction) also saves them."""

    def __init__(self, *, default_project: str | None, write: bool, progress: Callable[[str], None] | None):
        self.default_project = default_project
        self.write = write
        self.progress = progress
        self.summary = ImportSummary()
        self.errors: list[str] = []
        self.error_count = 0
        self.seen: dict[str, str] = {}  # key -> where it was first seen
        self.project_ids: dict[str, int | None] = {}  # None: valid key, project not yet created
        self.project_problems: dict[str, str] = {}
        self.rows = 0

    def fail(self, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS_SHOWN:
            self.errors.append(message)

    def run(self, rows: Iterable[RawRow]) -> None:
        if self.default_project:
            self._resolve_projects({self.default_project: ""})
        batch: list[tuple[RawRow, dict[str, Any]]] = []
        for row in rows:
            self.rows += 1
            if self.progress and self.rows % PROGRESS_EVERY == 0:
                self.progress(f"{'writing' if self.write else 'checking'}: {self.rows:,} rows")
            values, problems = _convert(row)
            problems = row.problems + problems
            key = values.get("key")
            if key:
                if key in self.seen:
                    problems.append(("key", f'"{key}" is also on {self.seen[key]} (a key may appear once per file)'))
                else:
                    self.seen[key] = row.short
            if problems:
                for field_name, problem in problems:
                    self.fail(row.error(field_name, problem))
                continue
            batch.append((row, values))
            if len(batch) >= CHUNK_ROWS:
                self._apply(batch)
                batch = []
        if batch:
            self._apply(batch)

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
            else:
                self.project_ids[key] = None
            self.summary.projects_created.append(key)

    def _apply(self, batch: list[tuple[RawRow, dict[str, Any]]]) -> None:
        wanted: dict[str, str] = {}
        for _, values in batch:
            if "project" in values and not wanted.get(values["project"]):
                wanted[values["project"]] = values.get("project_name", "")
        self._resolve_projects(wanted)
        # Plain values, not model instances: most rows of a re-import are unchanged and need no instance at all.
        stored_rows = UserStory.objects.filter(key__in=[values["key"] for _, values in batch]).values(
            "id", "key", "project_id", *STORY_FIELDS
        )
        existing = {stored["key"]: stored for stored in stored_rows}
        to_create: list[UserStory] = []
        to_update: list[UserStory] = []
        changed_fields: set[str] = set()
        for row, values in batch:
            project_key = values.get("project") or self.default_project
            if project_key in self.project_problems:
                self.fail(row.error("project" if "project" in values else None, self.project_problems[project_key]))
                continue
            stored = existing.get(values["key"])
            project_id = self.project_ids[project_key] if project_key else None
            # None for a project this import creates: it differs from whatever is stored.
            project_changed = bool(project_key) and (
                project_id is None or project_id != (stored or {}).get("project_id")
            )
            if stored is not None and not project_changed:
                # The converted values are already normalised the way the model's clean() would leave them.
                if all(values[name] == stored[name] for name in STORY_FIELDS if name in values):
                    self.summary.unchanged += 1
                    continue
            if stored is None:
                story = UserStory(key=values["key"])
            else:
                story = UserStory(key=values["key"], id=stored["id"], project_id=stored["project_id"])
                for name in STORY_FIELDS:
                    setattr(story, name, stored[name])
            for name in STORY_FIELDS:
                if name in values:
                    setattr(story, name, values[name])
            try:
                story.full_clean(exclude=["project"], validate_unique=False, validate_constraints=False)
            except ValidationError as error:
                for name, messages in error.message_dict.items():
                    self.fail(row.error(name if name in row.columns else None, " ".join(messages)))
                continue
            if project_key:
                story.project_id = project_id
            if stored is None:
                self.summary.created += 1
                to_create.append(story)
                continue
            changed = [name for name in STORY_FIELDS if getattr(story, name) != stored[name]]
            if project_changed:
                changed.append("project")
            if changed:
                self.summary.updated += 1
                changed_fields.update(changed)
                to_update.append(story)
            else:
                self.summary.unchanged += 1
        if self.write and not self.error_count:
            UserStory.objects.bulk_create(to_create, batch_size=500)
            _update_rows(to_update, sorted(changed_fields))


def _update_rows(stories: list[UserStory], field_names: list[str]) -> None:
    """UPDATE the given fields (and updated_at) of these stories with one executemany.

    Measured on SQLite with 5,000 stories: bulk_update() 2.0 s (it builds a CASE WHEN per field), one UPDATE per
    row through the ORM 1.0 s, this 0.15 s. Values go through each field's get_db_prep_save, as the ORM's do.
    """
    if not stories:
        return
    now = timezone.now()
    fields = [UserStory._meta.get_field(name) for name in [*field_names, "updated_at"]]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    sql = f"UPDATE {quote(UserStory._meta.db_table)} SET {assignments} WHERE {quote('id')} = %s"
    params = []
    for story in stories:
        story.updated_at = now
        params.append([*(f.get_db_prep_save(getattr(story, f.attname), connection) for f in fields), story.pk])
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _detect_format(stream: IO, name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    if suffix == ".json":
        return "json"
    start = stream.read(4096)
    stream.seek(0)
    if isinstance(start, bytes):
        start = start.removeprefix(_BOM).decode("utf-8", "replace")
    return "json" if start.lstrip().lstrip("\ufeff")[:1] in ("[", "{") else "csv"


def import_stories(
    path_or_file: str | os.PathLike | IO,
    *,
    project_key: str | None = None,
    fmt: str = "auto",
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ImportSummary:
    """Import the stories in a CSV or JSON file (a path, or an open binary file such as an upload).

    Upserts by story key; writes nothing unless every row is valid (raises ImportFailed listing the problems, each
    naming the file, line and column). `project_key` is given to stories the file leaves without a project; unknown
    project keys are created. `progress` is called with a short message every PROGRESS_EVERY rows.
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
    if isinstance(path_or_file, str | os.PathLike):
        path = Path(path_or_file)
        name = str(path_or_file)
        if not path.exists():
            raise ImportFailed([f"{name}: no such file"])
        if path.is_dir():
            raise ImportFailed([f"{name} is a directory, not a file"])
        with open(path, "rb") as stream:
            return _import_stream(stream, name, project_key, fmt, dry_run, progress)
    name = Path(getattr(path_or_file, "name", None) or "upload").name
    if path_or_file.seekable():
        return _import_stream(path_or_file, name, project_key, fmt, dry_run, progress)
    # The file is read twice (check, then write), so a pipe is first copied to a temporary file.
    with tempfile.TemporaryFile() as copy:
        shutil.copyfileobj(path_or_file, copy)
        copy.seek(0)
        return _import_stream(copy, name, project_key, fmt, dry_run, progress)


def _import_stream(stream: IO, name, project_key, fmt, dry_run, progress) -> ImportSummary:
    start = stream.tell()
    if fmt == "auto":
        fmt = _detect_format(stream, name)
    read = _csv_rows if fmt == "csv" else _json_rows

    check = _Pass(default_project=project_key, write=False, progress=progress)
    try:
        check.run(read(stream, name))
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

    stream.seek(start)
    with transaction.atomic():
        write = _Pass(default_project=project_key, write=True, progress=progress)
        write.run(read(stream, name))
        if write.error_count:  # the database changed between the passes; the transaction rolls back
            raise ImportFailed(write.errors, write.error_count)
    return write.summary
