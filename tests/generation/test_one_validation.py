"""One validation path for reviewed suggestions: the review page, the API (save and edit), `review_jobs --save` and
`generate_tests --save` all check a suggestion through the review's formset, refuse the same bad suggestion with the
same messages, and save nothing."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from api.models import ApiToken
from generation import jobs
from generation.models import JobStatus
from stories.models import TestCase
from tests.api.conftest import ApiClient
from tests.factories import make_ready_job
from tests.generation.test_views import HTMX, review_data

NO_THEN = "Given a cart\nWhen I add an item"
NO_THEN_MESSAGE = "Steps: The scenario needs a 'Then' step that states the expected outcome."
BAD_PRIORITY_MESSAGE = "Priority: Select a valid choice. urgent is not one of the available choices."


@pytest.fixture
def api(user):
    _row, raw = ApiToken.objects.issue(user, "tests")
    return ApiClient(raw)


@pytest.fixture
def bad_job(story):
    """A job whose first suggestion has a scenario without a Then and a priority the suite does not know (as a
    model or a hand-edited row might leave it)."""
    job = make_ready_job(story, suggestions=2)
    first = job.suggestions.first()
    first.priority = "urgent"
    first.scenarios[1]["steps"] = NO_THEN
    first.save()
    return job


def assert_nothing_saved(job):
    job.refresh_from_db()
    assert job.status == JobStatus.READY
    assert not TestCase.objects.exists()


def test_the_review_page_refuses_it_with_every_problem(client_logged_in, bad_job):
    response = client_logged_in.post(reverse("generation:save", args=[bad_job.pk]), review_data(bad_job), headers=HTMX)
    html = response.content.decode()
    assert "2 problems to fix before saving" in html
    assert "Test case 1 · Priority</a>: Select a valid choice. urgent is not one of the available choices." in html
    assert "Test case 1 · Scenario 2 · Steps</a>: The scenario needs a &#x27;Then&#x27; step" in html
    assert_nothing_saved(bad_job)


def test_save_suggestions_refuses_it_with_the_same_messages(bad_job):
    first = bad_job.suggestions.first()
    with pytest.raises(jobs.SuggestionErrors) as error:
        jobs.save_suggestions(bad_job)
    assert error.value.errors == {first.pk: {-1: [BAD_PRIORITY_MESSAGE], 1: [NO_THEN_MESSAGE]}}
    assert str(error.value) == "2 problems to fix before saving; nothing was saved."
    assert_nothing_saved(bad_job)


def test_the_api_save_refuses_it_with_the_same_messages(api, bad_job):
    first = bad_job.suggestions.first()
    response = api.post(f"/api/jobs/{bad_job.pk}/save")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_suggestions"
    assert body["problems"] == [
        {"suggestion": first.pk, "scenario": None, "problems": [BAD_PRIORITY_MESSAGE]},
        {"suggestion": first.pk, "scenario": 1, "problems": [NO_THEN_MESSAGE]},
    ]
    assert_nothing_saved(bad_job)


def test_the_api_save_accepts_the_fix_in_its_edits_and_saves_once(api, bad_job):
    first = bad_job.suggestions.first()
    fixed = [dict(sc) for sc in first.scenarios]
    fixed[1]["steps"] = NO_THEN + "\nThen I see 1 item"
    edits = {"edits": [{"id": first.pk, "priority": "high", "scenarios": fixed}]}
    assert api.post(f"/api/jobs/{bad_job.pk}/save", edits).status_code == 200
    again = api.post(f"/api/jobs/{bad_job.pk}/save", edits)
    assert again.status_code == 200
    assert TestCase.objects.count() == 2  # a retried save saves nothing twice


def test_an_api_edit_refuses_a_bad_edit_with_the_same_messages(api, bad_job):
    second = bad_job.suggestions.last()
    response = api.patch(
        f"/api/jobs/{bad_job.pk}/suggestions/{second.pk}",
        {"title": " ", "scenarios": [{"name": "Broken", "steps": NO_THEN}]},
    )
    assert response.status_code == 400
    assert response.json()["problems"] == [
        {"suggestion": second.pk, "scenario": None, "problems": ["Title: This field is required."]},
        {"suggestion": second.pk, "scenario": 0, "problems": [NO_THEN_MESSAGE]},
    ]
    second.refresh_from_db()
    assert second.title == "Suggested 1"


def test_an_edit_naming_a_suggestion_of_another_job_is_refused(api, bad_job, story):
    other = make_ready_job(story, suggestions=1).suggestions.get()
    response = api.post(f"/api/jobs/{bad_job.pk}/save", {"edits": [{"id": other.pk, "delete": True}]})
    assert response.status_code == 400
    assert response.json()["problems"][0]["problems"] == [f"This job has no suggestion {other.pk}."]
    assert_nothing_saved(bad_job)


def test_review_jobs_refuses_it_and_prints_each_problem(bad_job):
    stderr = io.StringIO()
    with pytest.raises(CommandError, match="1 of the named jobs could not be saved"):
        call_command("review_jobs", str(bad_job.pk), "--save", stdout=io.StringIO(), stderr=stderr)
    first = bad_job.suggestions.first()
    assert "not saved — 2 problems to fix before saving; nothing was saved." in stderr.getvalue()
    assert f"suggestion {first.pk} · {BAD_PRIORITY_MESSAGE}" in stderr.getvalue()
    assert f"suggestion {first.pk} · scenario 2 · {NO_THEN_MESSAGE}" in stderr.getvalue()
    assert_nothing_saved(bad_job)
