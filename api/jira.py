"""Jira pushes stories: an issue-created / issue-updated webhook (or an automation rule's "Send web request" with the
issue) upserts the story and, when the project says so, queues a generation for a new one.

The issue goes through the story importer itself (`stories.importing.import_stories`, Jira CSV format): the payload
becomes a one-row Jira CSV, so keys, wiki markup, statuses (with their Status Category), priorities and labels are
mapped exactly as an exported file would be, validated the same way and written in one transaction. A replayed
webhook finds the story unchanged and writes nothing; a delivery id seen before (`X-Atlassian-Webhook-Identifier`)
is answered without being read again.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction

from api.models import HookDelivery, JiraHook
from generation import jobs
from generation.models import GenerationJob
from stories.importing import ImportFailed, import_stories
from stories.keys import normalise_key
from stories.models import Project, UserStory

IGNORED_EVENTS = ("jira:issue_deleted",)


class HookError(Exception):
    def __init__(self, status: int, code: str, message: str, **details):
        super().__init__(message)
        self.status, self.code, self.details = status, code, details


@dataclass
class Ingested:
    story: str = ""
    result: str = ""  # created | updated | unchanged | ignored | duplicate
    job: GenerationJob | None = None
    warnings: list[str] = field(default_factory=list)


def issue_of(payload) -> dict:
    """The issue inside a webhook payload ({"webhookEvent", "issue": {...}}) or an automation body (the issue)."""
    if not isinstance(payload, dict):
        raise HookError(400, "invalid_payload", "The body must be a JSON object: Jira's webhook payload or an issue.")
    issue = payload.get("issue", payload)
    if not isinstance(issue, dict) or not isinstance(issue.get("fields"), dict) or not issue.get("key"):
        raise HookError(400, "invalid_payload", "No issue in the body: expected {'issue': {'key', 'fields'}}.")
    return issue


def project_key_of(issue: dict) -> str:
    project = issue["fields"].get("project") or {}
    return str(project.get("key") or str(issue["key"]).rsplit("-", 1)[0]).upper()


def adf_text(node) -> str:
    """Atlassian Document Format (Jira Cloud's rich text as JSON) as plain text, one block a line."""
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return "".join(adf_text(n) for n in node)
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        return node.get("text", "")
    if node.get("type") == "hardBreak":
        return "\n"
    inner = adf_text(node.get("content", []))
    if node.get("type") == "listItem":
        return "* " + inner.strip() + "\n"
    if node.get("type") in ("paragraph", "heading", "codeBlock", "blockquote"):
        return inner.rstrip("\n") + "\n\n"
    return inner


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dict) and value.get("type") == "doc":
        return adf_text(value).strip()
    if isinstance(value, dict):  # an option field: {"value": "..."}
        return str(value.get("value") or value.get("name") or "")
    if isinstance(value, list):
        return "\n".join(_text(v) for v in value)
    return str(value)


def _criteria_field(payload: dict, issue: dict, wanted: str):
    if not wanted:
        return None
    fields = issue["fields"]
    if wanted in fields:
        return fields[wanted]
    # A field named rather than given by id: Jira's payloads may carry {"names": {"customfield_10042": "…"}}.
    names = payload.get("names") or issue.get("names") or {}
    for field_id, name in names.items():
        if str(name).strip().lower() == wanted.strip().lower():
            return fields.get(field_id)
    return None


def as_jira_csv(payload: dict, issue: dict, criteria_field: str) -> bytes:
    """The issue as a one-row Jira CSV export (the importer's input)."""
    fields = issue["fields"]
    labels = [str(label) for label in fields.get("labels") or []]
    status = fields.get("status") or {}
    header = ["Issue key", "Summary", "Issue Type", "Status", "Status Category", "Priority", "Description"]
    row = [
        issue["key"],
        _text(fields.get("summary")),
        _text((fields.get("issuetype") or {}).get("name")),
        _text(status.get("name")),
        _text((status.get("statusCategory") or {}).get("name")),
        _text((fields.get("priority") or {}).get("name")),
        _text(fields.get("description")),
    ]
    criteria = _criteria_field(payload, issue, criteria_field)
    if criteria is not None:
        header.append("Acceptance Criteria")
        row.append(_text(criteria))
    header += ["Labels"] * len(labels)  # as Jira exports them: one Labels column per label
    row += labels
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerow(row)
    return out.getvalue().encode()


def ingest(payload, *, project: Project | None = None, user=None, delivery_id: str = "") -> Ingested:
    """Upsert the payload's issue into `project` (or the issue's own project) and queue a generation for a new
    story when the project's Jira webhook says so. Raises HookError."""
    if delivery_id and HookDelivery.objects.filter(delivery_id=delivery_id).exists():
        return Ingested(result="duplicate")
    issue = issue_of(payload)
    if isinstance(payload, dict) and payload.get("webhookEvent") in IGNORED_EVENTS:
        return Ingested(story=str(issue["key"]), result="ignored")
    if project is None:
        key = project_key_of(issue)
        project = Project.objects.filter(key=key).first()
        if project is None:
            raise HookError(404, "project_not_found", f"There is no project with the key {key!r}.")
    hook = JiraHook.objects.filter(project=project).first()
    data = as_jira_csv(payload, issue, hook.criteria_field if hook else "")
    try:
        summary = import_stories(
            io.BytesIO(data),
            project_key=project.key,
            fmt="jira",
            name="Jira webhook",
            editable_project_ids={project.pk},
        )
    except ImportFailed as failure:
        raise HookError(400, "invalid_issue", "; ".join(failure.errors[:10]), problems=failure.errors[:50]) from None
    story = UserStory.objects.select_related("project").get(key=normalise_key(str(issue["key"])))
    result = "created" if summary.created else "updated" if summary.updated else "unchanged"
    outcome = Ingested(story=story.key, result=result, warnings=summary.warning_lines())
    if result == "created" and hook is not None and hook.generate_on_create:
        # As the page queues: bounded by QAFORGE_QUEUE_TIMEOUT_SECONDS, and an unreachable queue fails the job with
        # its reason instead of answering 503 (Jira would send the issue again, find it unchanged, queue nothing).
        with jobs.enqueue_together() as sending:
            outcome.job, _created = jobs.queue_generation(story, user=user, options=hook.options())
        if sending.failed:
            outcome.job.refresh_from_db()
            outcome.warnings.append(f"No tests are being generated: {jobs.QUEUE_UNREACHABLE}")
    if delivery_id:
        try:
            with transaction.atomic():
                HookDelivery.objects.create(delivery_id=delivery_id[:200], story_key=story.key, outcome=result)
        except IntegrityError:
            pass  # the same delivery handled at the same moment: it changed nothing twice either
    return outcome
