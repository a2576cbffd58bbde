"""Jobs over the API with a token: read, cancel, review suggestions (read, edit, delete), save, discard, and
generation for many stories at once."""

import time

import pytest

from generation.models import GenerationJob, JobStatus
from stories import permissions
from stories.models import Role, TestCase
from tests import factories
from tests.factories import make_ready_job

BAD_STEPS = "Given a cart\nWhen I add an item"  # no Then


@pytest.fixture
def ready(story):
    return make_ready_job(story)


def test_a_job_reads_with_progress_phase_counts_and_links(api, story):
    job = GenerationJob.objects.create(story=story, status=JobStatus.RUNNING, progress=40, phase="Batch 2 of 5")
    body = api.get(f"/api/jobs/{job.pk}").json()
    assert (body["status"], body["progress"], body["phase"]) == ("running", 40, "Batch 2 of 5")
    assert body["events_url"] == f"/api/jobs/{job.pk}/events"
    assert body["summary"]["test_cases"] == 0


def test_suggestions_are_read_edited_and_deleted(api, ready):
    suggestions = api.get(f"/api/jobs/{ready.pk}/suggestions").json()
    assert [s["title"] for s in suggestions] == ["Suggested 0", "Suggested 1"]
    first, second = suggestions

    edited = api.patch(
        f"/api/jobs/{ready.pk}/suggestions/{first['id']}",
        {"title": "Add one item", "scenarios": [{"name": "One", "steps": "Given a cart\nWhen I add\nThen 1 item"}]},
    )
    assert edited.status_code == 200
    assert (edited.json()["title"], len(edited.json()["scenarios"])) == ("Add one item", 1)

    assert api.delete(f"/api/jobs/{ready.pk}/suggestions/{second['id']}").status_code == 204
    assert [s["title"] for s in api.get(f"/api/jobs/{ready.pk}/suggestions").json()] == ["Add one item"]
    last = api.delete(f"/api/jobs/{ready.pk}/suggestions/{first['id']}")
    assert (last.status_code, last.json()["code"]) == (409, "wrong_state")


def test_an_edit_with_invalid_gherkin_changes_nothing_and_says_where(api, ready):
    suggestion = ready.suggestions.first()
    response = api.patch(
        f"/api/jobs/{ready.pk}/suggestions/{suggestion.pk}", {"scenarios": [{"name": "Broken", "steps": BAD_STEPS}]}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_suggestions"
    assert body["problems"][0]["suggestion"] == suggestion.pk and body["problems"][0]["scenario"] == 0
    suggestion.refresh_from_db()
    assert len(suggestion.scenarios) == 2


def test_saving_puts_the_test_cases_in_the_suite_once(api, ready, story):
    first = api.post(f"/api/jobs/{ready.pk}/save")
    assert first.status_code == 200
    assert first.json()["job"]["status"] == "saved"
    assert len(first.json()["test_cases"]) == 2
    again = api.post(f"/api/jobs/{ready.pk}/save")
    assert [tc["id"] for tc in again.json()["test_cases"]] == [tc["id"] for tc in first.json()["test_cases"]]
    assert TestCase.objects.filter(story=story).count() == 2
    listed = api.get(f"/api/stories/{story.key}/test-cases").json()
    assert [tc["title"] for tc in listed] == ["Suggested 0", "Suggested 1"]


def test_saving_with_last_edits(api, ready, story):
    keep, drop = ready.suggestions.all()
    response = api.post(f"/api/jobs/{ready.pk}/save", {"edits": [{"id": drop.pk, "delete": True}]})
    assert [tc["title"] for tc in response.json()["test_cases"]] == [keep.title]


def test_discard_and_cancel_answer_409_when_the_job_is_past_them(api, ready, story):
    assert api.post(f"/api/jobs/{ready.pk}/cancel").json()["code"] == "wrong_state"
    assert api.post(f"/api/jobs/{ready.pk}/discard").json()["status"] == "discarded"
    assert api.post(f"/api/jobs/{ready.pk}/discard").status_code == 409
    assert api.post(f"/api/jobs/{ready.pk}/save").json()["code"] == "wrong_state"


def test_a_queued_job_is_cancelled(api, story):
    job = GenerationJob.objects.create(story=story)
    assert api.post(f"/api/jobs/{job.pk}/cancel").json()["status"] == "cancelled"


def test_viewers_read_jobs_but_cannot_act_on_them(api, user, project, ready):
    permissions.grant(user, project, Role.VIEWER)
    assert api.get(f"/api/jobs/{ready.pk}/suggestions").status_code == 200
    for url in ("save", "discard", "cancel"):
        assert api.post(f"/api/jobs/{ready.pk}/{url}").status_code == 403
    ready.refresh_from_db()
    assert ready.status == JobStatus.READY


def test_generate_for_a_project_and_named_stories(api, story, project, django_capture_on_commit_callbacks):
    factories.make_story(project=project, key="SHOP-2")
    loose = factories.make_story(project=None, key="LOOSE-1")
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/generate", {"project": "SHOP", "stories": [loose.key], "test_cases": 2, "test_types": "API"}
        )
    assert response.status_code == 202
    body = response.json()
    assert [j["story"] for j in body["jobs"]] == ["SHOP-2", "SHOP-12"]
    assert all(j["test_cases"] == 2 and j["test_types"] == ["API"] for j in body["jobs"])
    assert body["refused"] == [{"story": "LOOSE-1", "code": "invalid_request", "error": body["refused"][0]["error"]}]
    assert "not linked to a project" in body["refused"][0]["error"]


@pytest.mark.django_db(transaction=True)  # the enqueue runs on commit, inside the request, as in production
def test_a_frozen_redis_holds_a_bulk_generate_once_and_refuses_every_story_with_the_page_s_reason(
    api, project, frozen_broker
):
    keys = [factories.make_story(project=project, key=f"SHOP-{n}").key for n in range(1, 7)]
    started = time.monotonic()
    response = api.post("/api/generate", {"stories": keys, "test_types": "API"})
    elapsed = time.monotonic() - started
    assert len(frozen_broker.connections) == 1, "one round trip for the six stories"
    assert elapsed < 6 * 0.5, "waited once for the broker, not once per story"
    assert response.status_code == 202
    body = response.json()
    assert body["jobs"] == []
    assert [(r["story"], r["code"]) for r in body["refused"]] == [(key, "queue_unavailable") for key in keys]
    assert all(r["error"].startswith("Could not reach the job queue") for r in body["refused"])
    assert set(GenerationJob.objects.values_list("status", flat=True)) == {JobStatus.FAILED}


def test_generate_refuses_bad_options_and_unknown_stories_before_queueing_anything(api, story):
    assert api.post("/api/generate", {"stories": ["SHOP-12"], "test_cases": 11}).status_code == 400
    response = api.post("/api/generate", {"stories": ["SHOP-12", "NOPE-9"]})
    assert (response.status_code, response.json()["code"]) == (404, "story_not_found")
    assert api.post("/api/generate", {}).json()["code"] == "no_stories"
    assert not GenerationJob.objects.exists()


def test_unknown_suggestions_are_404(api, ready):
    response = api.patch(f"/api/jobs/{ready.pk}/suggestions/999999", {"title": "x"})
    assert (response.status_code, response.json()["code"]) == (404, "suggestion_not_found")
