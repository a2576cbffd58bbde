"""One row of an import file as model values: texts cleaned (markup converted), criteria split, labels split the
tracker's way, statuses and priorities mapped — with the row's problems and the warnings the lead should see."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from stories.importing import text as markup_text
from stories.importing.formats import Format, map_priority, map_status
from stories.importing.reading import RawRow, json_type
from stories.importing.text import split_criteria
from stories.keys import normalise_key
from stories.models import normalise_criterion

# --- Converting one row ---------------------------------------------------------------------------------------------


class _RowProblem(Exception):
    def __init__(self, field_name: str | None, problem: str):
        self.field_name, self.problem = field_name, problem


def _text(row: RawRow, field_name: str, *, multiline: bool = True) -> str:
    value = row.values.get(field_name)
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool) and field_name == "key":
        raise _RowProblem(field_name, f"must be text, got {json_type(value)} (put it in quotes)")
    if not isinstance(value, str):
        hint = " (put it in quotes)" if isinstance(value, int | float) and not isinstance(value, bool) else ""
        raise _RowProblem(field_name, f"must be text, got {json_type(value)}{hint}")
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
                raise _RowProblem(field_name, f"every item must be text, found {json_type(item)}")
            # A list from the CSV (Jira's repeated Labels columns) may still hold several labels in one cell.
            result.extend(split(item) if field_name == "labels" else [normalise_criterion(item)])
        return [item for item in result if item]
    raise _RowProblem(field_name, f"must be a list of texts or one text, got {json_type(value)}")


def _label_splitter(fmt: Format) -> Callable[[str], list[str]]:
    if fmt.name == "ado":
        return lambda value: [t.strip() for t in value.split(";") if t.strip()]  # tags may hold spaces
    if fmt.name == "github":
        return lambda value: [value.strip()] if value.strip() else []  # label names may hold spaces
    # Jira labels cannot contain spaces, so spaces separate labels as well as commas and semicolons.
    return lambda value: [label for label in re.split(r"[\s,;]+", value) if label]


class Converter:
    """Turns a RawRow of one format into model values, problems and warnings."""

    def __init__(self, fmt: Format, project_key: str | None):
        self.fmt = fmt
        self.project_key = project_key
        self.split_labels = _label_splitter(fmt)

    def __call__(self, row: RawRow) -> tuple[dict[str, Any], list[tuple[str | None, str]], list[str]]:
        values: dict[str, Any] = {}
        problems: list[tuple[str | None, str]] = []
        warnings: list[str] = []
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
            if values.get(field_name) == "":
                problems.append((field_name, empty))
        if values.get("key"):
            attempt("key", lambda: self._key(values["key"]))
        self._texts(row, values, warnings, attempt)
        if "labels" in provided:
            # dict.fromkeys: merged Jira columns may repeat a label
            attempt("labels", lambda: list(dict.fromkeys(_text_list(row, "labels", self.split_labels))))
        for name in ("external_url", "issue_type"):
            if name in provided:
                attempt(name, lambda n=name: _text(row, n, multiline=False))
        if "status" in provided:
            attempt("status", lambda: _text(row, "status", multiline=False))
            raw = values.pop("status", "")
            if raw:
                category = _text(row, "status_category", multiline=False) if "status_category" in provided else ""
                mapped = map_status(raw, category, self.fmt)
                if mapped.value:
                    values["status"] = mapped.value
                values["tracker_status"] = raw if mapped.keep_raw else ""
                if mapped.warning:
                    warnings.append(mapped.warning)
        if "priority" in provided:
            attempt("priority", lambda: _text(row, "priority", multiline=False))
            raw = values.pop("priority", "")
            if raw:
                mapped = map_priority(raw, self.fmt)
                if mapped.value:
                    values["priority"] = mapped.value
                if mapped.warning:
                    warnings.append(mapped.warning)
        if "project" in provided:
            attempt("project", lambda: normalise_key(_text(row, "project", multiline=False)))
            if not values.get("project"):
                values.pop("project", None)  # no project given: --project or the stored one applies
            elif "project_name" in provided:
                attempt("project_name", lambda: _text(row, "project_name", multiline=False))
        return values, problems, warnings

    def _key(self, raw: str) -> str:
        if self.fmt.numeric_keys and raw.isdigit():
            return f"{self.project_key}-{int(raw)}"
        return normalise_key(raw)

    def _texts(self, row: RawRow, values: dict, warnings: list[str], attempt) -> None:
        """Description and acceptance criteria, markup converted; criteria found in the description (a GitHub
        body's "Acceptance criteria" section) when the file has no criteria of their own."""
        markup = self.fmt.markup
        provided = row.values
        criteria_given = "acceptance_criteria" in provided and bool(provided["acceptance_criteria"])
        if "description" in provided:
            raw = _safe(lambda: _text(row, "description"), attempt, "description")
            if raw is not None:
                parts = markup_text.blocks(raw, markup)
                if markup and not criteria_given:
                    parts, inside = markup_text.split_sections(parts)
                    if inside:
                        values["acceptance_criteria"] = markup_text.criteria(inside)
                        warnings.append(f"acceptance criteria taken from the {row.columns.get('description')}")
                values["description"] = markup_text.description(parts) if markup else raw
                if markup and values["description"] != raw:
                    warnings.append(f"{row.columns.get('description')}: {_MARKUP_NAMES[markup]} converted to text")
        if criteria_given or ("acceptance_criteria" in provided and "acceptance_criteria" not in values):
            value = provided.get("acceptance_criteria")
            if isinstance(value, str) and markup:
                raw = value.replace("\r\n", "\n").strip()
                parts = markup_text.blocks(raw, markup)
                values["acceptance_criteria"] = markup_text.criteria(parts)
                if markup_text.uses_markup(raw, markup):
                    name = row.columns.get("acceptance_criteria")
                    warnings.append(f"{name}: {_MARKUP_NAMES[markup]} converted to text")
            else:
                attempt("acceptance_criteria", lambda: _text_list(row, "acceptance_criteria", split_criteria))


_MARKUP_NAMES = {"jira": "Jira wiki markup", "html": "HTML", "markdown": "Markdown"}


def _safe(convert: Callable[[], Any], attempt, field_name: str):
    holder: dict[str, Any] = {}
    attempt(field_name, lambda: holder.setdefault("value", convert()))
    return holder.get("value")
