"""The file formats the importer knows, how each is recognised, and how tracker statuses, priorities and types map
onto QAForge's.

Mapping never aborts a file: a status or priority that is not QAForge's own is read through the tables below (and,
for Jira, its `Status Category`), and every such reading is reported as a warning the lead sees before anything is
written; a status nothing maps keeps its text on the story (`tracker_status`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from stories.models import Priority, UserStory

Status = UserStory.Status


@dataclass(frozen=True)
class Format:
    name: str  # what --format takes
    label: str  # what the preview and the command say
    kind: str  # "csv" | "json"
    aliases: dict[str, tuple[str, ...]]  # field -> header names (normalised: lower case, single spaces)
    markup: str | None = None  # how its long texts are written: "jira" | "html" | "markdown" | None (plain)
    numeric_keys: bool = False  # keys are numbers: they need a project key in front (--project)
    merge_repeated: bool = False  # a header that repeats is one field (Jira's Labels, Sprint, custom fields)
    # The tracker's own fixed scheme, read without a warning (Azure DevOps' states, GitHub's open/closed).
    statuses: dict[str, str] = field(default_factory=dict)
    priorities: dict[str, str] = field(default_factory=dict)

    def alias_map(self) -> dict[str, str]:
        return {alias: name for name, aliases in self.aliases.items() for alias in aliases}


_OWN = {
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
    "issue_type": ("type", "issue type"),
}

FORMATS: dict[str, Format] = {
    "csv": Format("csv", "QAForge CSV", "csv", _OWN),
    "json": Format("json", "QAForge JSON", "json", _OWN),
    "jira": Format(
        "jira",
        "Jira CSV export",
        "csv",
        {
            # Jira Cloud renamed issues to work items: both spellings of each column.
            "key": ("issue key", "work item key"),
            "title": ("summary",),
            "issue_type": ("issue type", "work type", "work item type"),
            "status": ("status",),
            "status_category": ("status category",),
            "priority": ("priority",),
            "project": ("project key",),
            "project_name": ("project name",),
            "description": ("description",),
            "acceptance_criteria": ("acceptance criteria",),
            "labels": ("labels",),
        },
        markup="jira",
        merge_repeated=True,
    ),
    "ado": Format(
        "ado",
        "Azure DevOps CSV export",
        "csv",
        {
            "key": ("id",),
            "issue_type": ("work item type",),
            "title": ("title",),
            "status": ("state",),
            "priority": ("priority",),
            "labels": ("tags",),
            "description": ("description",),
            "acceptance_criteria": ("acceptance criteria",),
        },
        markup="html",
        numeric_keys=True,
        # The states of Azure DevOps' Agile, Scrum and Basic processes; "Removed" is left to the warning table.
        statuses={
            "new": Status.TODO,
            "approved": Status.TODO,
            "todo": Status.TODO,
            "active": Status.IN_PROGRESS,
            "committed": Status.IN_PROGRESS,
            "doing": Status.IN_PROGRESS,
            "resolved": Status.IN_REVIEW,
            "closed": Status.DONE,
            "done": Status.DONE,
        },
        priorities={"1": Priority.HIGHEST, "2": Priority.HIGH, "3": Priority.MEDIUM, "4": Priority.LOW},
    ),
    "github": Format(
        "github",
        "GitHub issues JSON",
        "json",
        {
            "key": ("number",),
            "title": ("title",),
            "description": ("body",),
            "labels": ("labels",),
            "status": ("state",),
            "external_url": ("url", "html url"),
            "issue_type": ("type",),
        },
        markup="markdown",
        numeric_keys=True,
        statuses={"open": Status.TODO, "closed": Status.DONE},
    ),
}
FORMAT_CHOICES = ("auto", "jira", "ado", "github", "csv", "json")
REPEATABLE = {"labels"}  # fields that are lists: a repeated column adds to them


def normalise_header(header: str) -> str:
    text = re.sub(r"[\s_\-]+", " ", header.replace("\ufeff", "").strip().lower())
    custom = re.fullmatch(r"custom field \((.*)\)", text)
    return custom.group(1).strip() if custom else text


def detect_csv(header: list[str]) -> Format:
    names = {normalise_header(h) for h in header}
    if "work item type" in names and "id" in names:
        return FORMATS["ado"]
    if names & {"issue key", "work item key"} and "summary" in names and names & {"issue type", "work type"}:
        return FORMATS["jira"]
    return FORMATS["csv"]


def detect_json(items: list) -> Format:
    first = next((item for item in items if isinstance(item, dict)), None)
    if first is not None and "number" in first and "key" not in first and ({"body", "labels", "state"} & set(first)):
        return FORMATS["github"]
    return FORMATS["json"]


# --- Statuses, priorities ------------------------------------------------------------------------------------------


def choice_key(value: str) -> str:
    return re.sub(r"[\s_\-'’]+", "", value.strip().lower())


# Jira's three stable status categories.
STATUS_CATEGORIES = {"todo": Status.TODO, "inprogress": Status.IN_PROGRESS, "done": Status.DONE}
# Workflow statuses teams use, read as the nearest QAForge status.
STATUS_NAMES = {
    "open": Status.TODO,
    "new": Status.TODO,
    "approved": Status.TODO,
    "selectedfordevelopment": Status.TODO,
    "readyfordev": Status.TODO,
    "readyfordevelopment": Status.TODO,
    "ready": Status.TODO,
    "reopened": Status.TODO,
    "proposed": Status.BACKLOG,
    "icebox": Status.BACKLOG,
    "active": Status.IN_PROGRESS,
    "committed": Status.IN_PROGRESS,
    "indevelopment": Status.IN_PROGRESS,
    "blocked": Status.IN_PROGRESS,
    "onhold": Status.IN_PROGRESS,
    "review": Status.IN_REVIEW,
    "codereview": Status.IN_REVIEW,
    "inqa": Status.IN_REVIEW,
    "qa": Status.IN_REVIEW,
    "readyforqa": Status.IN_REVIEW,
    "intesting": Status.IN_REVIEW,
    "testing": Status.IN_REVIEW,
    "readyfortest": Status.IN_REVIEW,
    "closed": Status.DONE,
    "resolved": Status.DONE,
    "removed": Status.DONE,
    "wontdo": Status.DONE,
    "wontfix": Status.DONE,
    "cancelled": Status.DONE,
    "canceled": Status.DONE,
    "released": Status.DONE,
}
PRIORITY_NAMES = {
    "blocker": Priority.HIGHEST,
    "urgent": Priority.HIGHEST,
    "critical": Priority.HIGH,
    "major": Priority.MEDIUM,
    "normal": Priority.MEDIUM,
    "minor": Priority.LOW,
    "trivial": Priority.LOWEST,
    "p0": Priority.HIGHEST,
    "p1": Priority.HIGH,
    "p2": Priority.MEDIUM,
    "p3": Priority.LOW,
    "p4": Priority.LOWEST,
}
_OWN_STATUSES = {choice_key(v): v for c in Status for v in (c.value, c.label)} | {
    choice_key(c.label): c.value for c in Status
}
_OWN_PRIORITIES = {choice_key(c.label): c.value for c in Priority}


@dataclass(frozen=True)
class Mapped:
    value: str | None  # QAForge's value; None: leave the story's (the default for a new one)
    warning: str = ""  # what was guessed, for the lead to check
    keep_raw: bool = False  # keep the tracker's text on the story


def map_status(raw: str, category: str = "", fmt: Format | None = None) -> Mapped:
    key = choice_key(raw)
    if key in _OWN_STATUSES:
        return Mapped(_OWN_STATUSES[key])
    if fmt is not None and key in fmt.statuses:
        return Mapped(fmt.statuses[key])
    by_category = STATUS_CATEGORIES.get(choice_key(category)) if category else None
    if by_category:
        label = Status(by_category).label
        return Mapped(by_category, f'status "{raw}" read as {label} (its Status Category "{category}")', True)
    if key in STATUS_NAMES:
        value = STATUS_NAMES[key]
        return Mapped(value, f'status "{raw}" read as {Status(value).label}', True)
    return Mapped(
        None,
        f'status "{raw}" is not one QAForge knows: kept as the tracker\'s status, story status left as it was',
        True,
    )


def map_priority(raw: str, fmt: Format | None = None) -> Mapped:
    key = choice_key(raw)
    if key in _OWN_PRIORITIES:
        return Mapped(_OWN_PRIORITIES[key])
    if fmt is not None and key in fmt.priorities:
        return Mapped(fmt.priorities[key])
    if key in PRIORITY_NAMES:
        value = PRIORITY_NAMES[key]
        return Mapped(value, f'priority "{raw}" read as {Priority(value).label}')
    return Mapped(None, f'priority "{raw}" is not one QAForge knows: left as it was (Medium for a new story)')
