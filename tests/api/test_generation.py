"""The JSON API: queue a story's generation, read a job's status."""

import json

import pytest
from django.test import Client

from generation.models import GenerationJob


def post_json(client, url, data):
    return client.post(url, data=json.dumps(data), content_type="application/json")


def test_queueing_through_the_api_answers_202_with_the_job_and_its_status_url(
    client_logged_in, story, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(
            client_logged_in, "/api/stories/SHOP-12/generate", {"test_cases": 2, "test_types": ["API", "UI"]}
        )
    assert response.status_code == 202
    body = response.json()
    job = GenerationJob.objects.get()
    assert body["id"] == str(job.pk)
    assert body["status"] == "queued"
    assert body["created"] is True
    assert body["status_url"] == f"/api/jobs/{job.pk}"
    assert (job.test_cases, job.test_types) == (2, ["API", "UI"])

    status = client_logged_in.get(body["status_url"]).json()
    assert status["status"] == "queued"
    assert status["story"] == "SHOP-12"
    assert set(status) >= {"progress", "message", "error", "batches_done", "batches_total", "queued_at", "attempts"}


def test_a_second_request_for_the_same_story_returns_the_same_job(client_logged_in, story):
    first = post_json(client_logged_in, "/api/stories/SHOP-12/generate", {}).json()
    second = post_json(client_logged_in, "/api/stories/SHOP-12/generate", {}).json()
    assert first["id"] == second["id"]
    assert second["created"] is False


def test_form_encoded_requests_work_too(client_logged_in, story):
    response = client_logged_in.post(
        "/api/stories/SHOP-12/generate", {"test_cases": "3", "scenarios_per_test": "4", "test_types": ["SECURITY"]}
    )
    assert response.status_code == 202
    assert GenerationJob.objects.get().test_types == ["SECURITY"]


@pytest.mark.parametrize(
    "url, payload, status, message",
    [
        ("/api/stories/NOPE-1/generate", {}, 404, "no story with the key"),
        ("/api/stories/SHOP-12/generate", {"test_cases": 50}, 400, "between 1 and 10 test cases"),
        ("/api/stories/SHOP-12/generate", {"test_types": "FUZZ"}, 400, "Unknown test type: FUZZ"),
    ],
)
def test_bad_requests_get_a_clear_json_error(client_logged_in, story, url, payload, status, message):
    response = post_json(client_logged_in, url, payload)
    assert response.status_code == status
    assert message in response.json()["error"]
    assert not GenerationJob.objects.exists()


def test_a_body_that_is_not_json_is_a_400(client_logged_in, story):
    response = client_logged_in.post("/api/stories/SHOP-12/generate", data="{nope", content_type="application/json")
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]


def test_a_story_without_a_project_is_refused(client_logged_in, project):
    from tests.factories import make_story

    make_story(project=None, key="LOOSE-2")
    response = post_json(client_logged_in, "/api/stories/LOOSE-2/generate", {})
    assert response.status_code == 400
    assert response.json()["error"].startswith("This story is not linked to a project")


def test_anonymous_callers_get_401_json(client, story):
    response = post_json(client, "/api/stories/SHOP-12/generate", {})
    assert response.status_code == 401
    assert "Log in" in response.json()["error"]
    job = GenerationJob.objects.create(story=story)
    assert client.get(f"/api/jobs/{job.pk}").status_code == 401


def test_posts_without_a_csrf_token_are_refused(story, user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = post_json(client, "/api/stories/SHOP-12/generate", {})
    assert response.status_code == 403
    assert not GenerationJob.objects.exists()


def test_an_unknown_job_is_404(client_logged_in, db):
    response = client_logged_in.get("/api/jobs/3f8a2c1e-0000-4000-8000-000000000000")
    assert response.status_code == 404
    assert "no job" in response.json()["error"]


def test_get_is_not_allowed_on_generate(client_logged_in, story):
    assert client_logged_in.get("/api/stories/SHOP-12/generate").status_code == 405


def test_the_csrf_refusal_of_the_api_is_json(story, user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = post_json(client, "/api/stories/SHOP-12/generate", {})
    assert "X-CSRFToken" in response.json()["error"]


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"test_types": 5}, "test_types must be a list"),
        ({"test_cases": 2.7}, "test_cases must be a whole number"),
        ({"scenarios_per_test": "three"}, "scenarios_per_test must be a whole number"),
    ],
)
def test_malformed_values_are_a_400_not_a_crash(client_logged_in, story, payload, message):
    response = post_json(client_logged_in, "/api/stories/SHOP-12/generate", payload)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_unknown_or_malformed_job_ids_and_wrong_methods_answer_json(client_logged_in, db):
    assert client_logged_in.get("/api/jobs/not-a-uuid").json()["error"].startswith("There is no job")
    response = client_logged_in.post("/api/jobs/not-a-uuid")
    assert (response.status_code, response.json()["error"]) == (405, "Use GET for this URL.")


@pytest.mark.parametrize("value", ["²", "٣", "3.0", "-1", "1e1", True])
def test_non_ascii_digits_and_other_malformed_numbers_are_a_400(api, story, value):
    response = api.post("/api/stories/SHOP-12/generate", {"test_cases": value})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"
    assert not GenerationJob.objects.exists()


def test_the_api_uses_the_dialog_s_defaults(api, story):
    body = api.post("/api/stories/SHOP-12/generate").json()
    assert (body["test_cases"], body["scenarios_per_test"], body["test_types"]) == (5, 3, ["FUNCTIONAL", "UI"])
