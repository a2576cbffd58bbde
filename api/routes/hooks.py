"""Webhook ingest: trackers push stories (`api.jira`)."""

from typing import Any

from ninja import Body, Router, Schema, Status

from api.errors import ApiError
from api.jira import HookError, Ingested, ingest, issue_of, project_key_of
from api.models import JiraHook
from api.schemas import Error, QueuedJob, job_out
from stories import permissions
from stories.models import Project

router = Router(tags=["webhooks"])


class Accepted(Schema):
    story: str
    result: str  # created | updated | unchanged | ignored | duplicate
    job: QueuedJob | None
    warnings: list[str]


def _answer(outcome: Ingested):
    job = {**job_out(outcome.job, suggestions=0), "created": True} if outcome.job else None
    return Status(202, {"story": outcome.story, "result": outcome.result, "job": job, "warnings": outcome.warnings})


def _ingest(request, payload, **kwargs):
    try:
        return ingest(payload, delivery_id=request.headers.get("X-Atlassian-Webhook-Identifier", ""), **kwargs)
    except HookError as error:
        raise ApiError(error.status, error.code, str(error), **error.details) from None


JIRA_DOC = """Jira's issue-created / issue-updated webhook payload, or an automation rule's "Send web request" with the
issue as its body. Upserts the story with the importer's Jira mapping (key, summary, description, acceptance
criteria from the project's configured field, status, priority, labels) and, when the project's Jira webhook says
"generate on create", queues a generation for a new story with the project's options. Answers 202 at once; a
replayed webhook changes nothing twice."""


@router.post(
    "/hooks/jira",
    response={202: Accepted, 400: Error, 403: Error, 404: Error},
    summary="Jira webhook (token)",
    description=JIRA_DOC,
)
def jira_hook(request, payload: Body[dict[str, Any]]):
    key = project_key_of(_issue(payload))
    project = permissions.visible(Project.objects.all(), request.user).filter(key=key).first()
    if project is None:
        raise ApiError(404, "project_not_found", f"There is no project with the key {key!r}.")
    permissions.require_edit(request.user, project)
    return _answer(_ingest(request, payload, project=project, user=request.user))


@router.post(
    "/hooks/jira/{secret}",
    auth=None,
    response={202: Accepted, 400: Error, 404: Error},
    summary="Jira webhook (project secret in the URL)",
    description=JIRA_DOC + " For senders that cannot send a token: the URL's secret names the project.",
)
def jira_hook_by_secret(request, secret: str, payload: Body[dict[str, Any]]):
    hook = JiraHook.objects.select_related("project").filter(secret=secret).first()
    if hook is None:
        raise ApiError(404, "hook_not_found", "There is no Jira webhook with this URL.")
    return _answer(_ingest(request, payload, project=hook.project))


def _issue(payload) -> dict:
    try:
        return issue_of(payload)
    except HookError as error:
        raise ApiError(error.status, error.code, str(error)) from None
