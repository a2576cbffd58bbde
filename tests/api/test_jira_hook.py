"""Jira pushes stories: the webhook upserts through the importer's mapping and may queue a generation at once."""

import copy
import json
import time
from pathlib import Path

import pytest

from api.models import HookDelivery, JiraHook
from generation.models import GenerationJob
from stories.models import Project, UserStory
from tests import factories

SAMPLE = json.loads((Path(__file__).parents[2] / "docs/samples/jira-webhook-issue-created.json").read_text())


@pytest.fixture
def payload():
    return copy.deepcopy(SAMPLE)


@pytest.fixture
def hook(project):
    return JiraHook.objects.create(
        project=project, criteria_field="customfield_10042", generate_on_create=True, test_cases=2, test_types=["API"]
    )


def test_an_issue_created_webhook_creates_the_story_and_queues_its_generation(
    api, hook, payload, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/hooks/jira", payload)
    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["story"], body["result"]) == ("SHOP-77", "created")
    story = UserStory.objects.get(key="SHOP-77")
    assert story.title == "Pay with a voucher"
    assert story.project.key == "SHOP"
    assert story.acceptance_criteria == [
        "A valid voucher lowers the order total by its value",
        "An expired voucher is refused with the message Voucher expired",
        "Only one voucher per order",
    ]
    assert "As a shopper I want to enter a voucher code" in story.description
    assert (story.priority, story.status, story.labels) == ("high", "todo", ["checkout", "vouchers"])
    assert story.tracker_status == "Ready for Dev"
    job = GenerationJob.objects.get()
    assert (job.story, job.test_cases, job.test_types) == (story, 2, ["API"])
    assert body["job"]["id"] == str(job.pk) and job.task_id  # queued, not run: the answer did not wait


@pytest.mark.django_db(transaction=True)  # the enqueue runs on commit, inside the request, as in production
def test_a_frozen_redis_keeps_the_story_and_fails_its_job_with_the_page_s_reason(api, hook, payload, frozen_broker):
    started = time.monotonic()
    response = api.post("/api/hooks/jira", payload)
    assert time.monotonic() - started < 2, "the queue's bounded wait, not redis-py's retried 5 s"
    assert response.status_code == 202, "the story is in; a 5xx would make Jira resend it and queue nothing"
    body = response.json()
    assert (body["story"], body["result"]) == ("SHOP-77", "created")
    assert body["job"]["status"] == "failed"
    assert body["job"]["error"].startswith("Could not reach the job queue")
    assert any("Could not reach the job queue" in warning for warning in body["warnings"])
    assert len(frozen_broker.connections) == 1
    assert GenerationJob.objects.get().status == "failed"


def test_a_replayed_webhook_changes_nothing_twice(api, hook, payload):
    first = api.post("/api/hooks/jira", payload).json()
    again = api.post("/api/hooks/jira", payload).json()
    assert (first["result"], again["result"]) == ("created", "unchanged")
    assert again["job"] is None
    assert UserStory.objects.filter(key="SHOP-77").count() == 1
    assert GenerationJob.objects.count() == 1


def test_a_delivery_id_seen_before_is_not_read_again(api, hook, payload):
    headers = {"X-Atlassian-Webhook-Identifier": "abc-123"}
    assert api.post("/api/hooks/jira", payload, headers=headers).json()["result"] == "created"
    payload["issue"]["fields"]["summary"] = "Changed by a retry"
    assert api.post("/api/hooks/jira", payload, headers=headers).json()["result"] == "duplicate"
    assert UserStory.objects.get(key="SHOP-77").title == "Pay with a voucher"
    assert HookDelivery.objects.get().outcome == "created"


def test_an_issue_updated_webhook_updates_and_never_generates(api, hook, payload):
    api.post("/api/hooks/jira", payload)
    payload["webhookEvent"] = "jira:issue_updated"
    payload["issue"]["fields"]["summary"] = "Pay with one voucher"
    payload["issue"]["fields"]["status"] = {"name": "In Progress", "statusCategory": {"name": "In Progress"}}
    body = api.post("/api/hooks/jira", payload).json()
    assert body["result"] == "updated" and body["job"] is None
    story = UserStory.objects.get(key="SHOP-77")
    assert (story.title, story.status) == ("Pay with one voucher", "in_progress")
    assert GenerationJob.objects.count() == 1


def test_without_generate_on_create_only_the_story_is_written(api, project, payload):
    JiraHook.objects.create(project=project, criteria_field="Acceptance Criteria", generate_on_create=False)
    payload["names"] = {"customfield_10042": "Acceptance Criteria"}  # the field named, as with ?expand=names
    assert api.post("/api/hooks/jira", payload).json()["result"] == "created"
    assert len(UserStory.objects.get(key="SHOP-77").acceptance_criteria) == 3
    assert not GenerationJob.objects.exists()


def test_the_project_secret_in_the_url_works_without_a_token(client, hook, payload):
    url = f"/api/hooks/jira/{hook.secret}"
    response = client.post(url, json.dumps(payload), content_type="application/json")
    assert (response.status_code, response.json()["result"]) == (202, "created")
    wrong = client.post("/api/hooks/jira/not-the-secret", json.dumps(payload), content_type="application/json")
    assert (wrong.status_code, wrong.json()["code"]) == (404, "hook_not_found")


def adf_item(text: str) -> dict:
    return {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]}


def test_jira_cloud_rich_text_is_read(api, hook, payload):
    payload["issue"]["fields"]["description"] = {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "As a shopper I pay less."}]}],
    }
    payload["issue"]["fields"]["customfield_10042"] = {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "bulletList",
                "content": [adf_item("A"), adf_item("B")],
            }
        ],
    }
    api.post("/api/hooks/jira", payload)
    story = UserStory.objects.get(key="SHOP-77")
    assert (story.description, story.acceptance_criteria) == ("As a shopper I pay less.", ["A", "B"])


def test_bad_payloads_and_projects_the_token_may_not_change(api, user, hook, payload):
    assert api.post("/api/hooks/jira", {"hello": "world"}).json()["code"] == "invalid_payload"
    payload["issue"]["fields"]["summary"] = ""
    bad = api.post("/api/hooks/jira", payload)
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_issue")
    other = copy.deepcopy(SAMPLE)
    other["issue"]["key"] = "BANK-1"
    other["issue"]["fields"]["project"]["key"] = "BANK"
    factories.make_project(key="BANK")
    assert api.post("/api/hooks/jira", other).status_code == 404  # not a member: it does not exist for them
    assert not Project.objects.filter(key="BANK", stories__isnull=False).exists()


def test_a_deleted_issue_is_ignored(api, hook, payload):
    payload["webhookEvent"] = "jira:issue_deleted"
    assert api.post("/api/hooks/jira", payload).json()["result"] == "ignored"
    assert not UserStory.objects.exists()
