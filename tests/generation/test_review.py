"""The review dialog on Django formsets: every error at once with a summary pointing at each field, coverage of the
acceptance criteria by the kept scenarios, "Generate for this criterion", and nothing ever saved unseen."""

import pytest
from django.urls import reverse

from generation import jobs
from generation.models import GenerationJob, JobStatus, SuggestedTestCase
from stories import permissions
from stories.models import Role, TestCase
from tests import factories
from tests.generation.test_views import HTMX, ready_job, review_data, toasts

STEPS = "Given a shopper with an empty cart\nWhen they add a book\nThen the cart shows 1 item"


@pytest.fixture
def editor(user, project):
    permissions.grant(user, project, Role.EDITOR)
    return user


def cite(job, *numbers):
    """Make every scenario of the job cite only these acceptance criteria."""
    for suggestion in job.suggestions.all():
        suggestion.scenarios = [{**sc, "criteria": list(numbers)} for sc in suggestion.scenarios]
        suggestion.save()


def save(client, job, data):
    return client.post(reverse("generation:save", args=[job.pk]), data, headers=HTMX)


def test_every_error_of_every_field_shows_at_once_with_a_summary(client_logged_in, story):
    job = ready_job(story, suggestions=2)
    data = review_data(job)
    data["case-0-title"] = ""  # two problems in one test case: an empty title …
    data["case-0-test_type"] = "NOT_A_TYPE"  # … and an unknown type: both are shown
    data["case-1-sc-0-steps"] = "Given a cart\nWhen I look"  # no Then

    response = save(client_logged_in, job, data)
    html = response.content.decode()

    assert "This field is required." in html
    assert "Select a valid choice. NOT_A_TYPE is not one of the available choices." in html
    assert "The scenario needs a &#x27;Then&#x27; step that states the expected outcome." in html
    assert '<div class="review-errors" id="review-errors" role="alert"' in html
    assert '<a href="#id_case-0-title" data-focus="id_case-0-title">Test case 1 · Title</a>' in html
    assert '<a href="#id_case-0-test_type" data-focus="id_case-0-test_type">Test case 1 · Test type</a>' in html
    assert 'data-focus="id_case-1-sc-0-steps">Test case 2 · Scenario 1 · Steps</a>' in html
    assert toasts(response)[0]["message"] == "3 problems to fix before saving; nothing was saved."
    assert not TestCase.objects.exists()


def test_a_test_case_with_every_scenario_removed_is_an_error_not_an_empty_case(client_logged_in, story):
    job = ready_job(story, suggestions=1)
    data = review_data(job, **{"case-0-sc-0-DELETE": "on", "case-0-sc-1-DELETE": "on"})
    html = save(client_logged_in, job, data).content.decode()
    assert "Keep at least one scenario, or delete the whole test case." in html
    assert not TestCase.objects.exists()


def test_the_coverage_strip_shows_each_criterion_and_the_gaps(client_logged_in, story):
    job = ready_job(story, suggestions=2)
    cite(job, 1)
    html = client_logged_in.get(reverse("generation:review", args=[job.pk]), headers=HTMX).content.decode()
    assert "<span data-covered-count>1</span> of 2 acceptance criteria covered" in html
    assert '<li class="criterion" data-criterion="1" id="criterion-1" tabindex="-1">' in html
    assert '<li class="criterion uncovered" data-criterion="2" id="criterion-2" tabindex="-1">' in html
    assert "not covered" in html and "Generate for this criterion" in html
    assert 'data-criteria="1"' in html and '<span class="cite">AC-1</span>' in html


def test_saving_with_uncovered_criteria_asks_first(client_logged_in, story):
    job = ready_job(story, suggestions=1)
    cite(job, 1)
    data = review_data(job)

    html = save(client_logged_in, job, data).content.decode()
    assert "AC-2 is not covered by any scenario you kept." in html
    assert 'name="confirm_uncovered" value="1"' in html
    assert not TestCase.objects.exists()

    save(client_logged_in, job, {**data, "confirm_uncovered": "1"})
    assert TestCase.objects.count() == 1


def test_deleting_the_only_case_covering_a_criterion_makes_it_a_gap(client_logged_in, story):
    job = ready_job(story, suggestions=2)
    first, second = job.suggestions.all()
    second.scenarios = [{**sc, "criteria": [1]} for sc in second.scenarios]
    second.save()
    html = save(client_logged_in, job, review_data(job, **{"case-0-DELETE": "on"})).content.decode()
    assert "AC-2 is not covered by any scenario you kept." in html


def test_saved_scenarios_keep_their_citations_and_the_job_its_review_outcome(client_logged_in, story, user):
    job = ready_job(story, suggestions=3)
    data = review_data(job, **{"case-0-title": "Edited", "case-2-DELETE": "on"})
    save(client_logged_in, job, data)
    job.refresh_from_db()
    assert job.review_outcome == {"suggested": 3, "unchanged": 1, "edited": 1, "deleted": 1}
    assert (job.saved_by, job.status) == (user, JobStatus.SAVED)
    assert [tc.review for tc in TestCase.objects.order_by("pk")] == ["edited", "unchanged"]
    assert TestCase.objects.first().scenarios.first().criteria == [1, 2]
    story.refresh_from_db()
    assert story.criteria_covered == 2


def test_suggestions_that_joined_after_the_review_opened_wait_in_a_new_review(client_logged_in, story):
    job = ready_job(story, suggestions=1)
    data = review_data(job)  # what the open dialog shows
    late = SuggestedTestCase.objects.create(
        job=job, position=5, title="Late", scenarios=[{"name": "x", "steps": STEPS}]
    )

    response = save(client_logged_in, job, data)

    assert TestCase.objects.count() == 1
    late.refresh_from_db()
    assert late.job_id != job.pk and late.job.status == JobStatus.READY
    assert toasts(response)[0]["message"] == (
        "Saved 1 test case to SHOP-12. 1 suggestion that arrived during the review wait in a new review."
    )


def test_an_open_review_gets_the_suggestions_that_joined_it_numbered_after_its_own(client_logged_in, story):
    job = ready_job(story, suggestions=2, warnings=["Generating for AC-2: Gemini returned 0 of the 1 asked."])
    shown = " ".join(str(pk) for pk in job.suggestions.values_list("pk", flat=True))
    SuggestedTestCase.objects.create(
        job=job, position=7, title="Joined <b>late</b>", scenarios=[{"name": "Gap", "steps": STEPS, "criteria": [2]}]
    )
    url = reverse("generation:review_joined", args=[job.pk])

    html = client_logged_in.get(url, {"start": 2, "shown": shown}, headers=HTMX).content.decode()

    assert html.count("data-case") == 1 and "<html" not in html
    assert 'id="case-2" data-case' in html and 'name="case-2-title" value="Joined &lt;b&gt;late&lt;/b&gt;"' in html
    assert 'id="case-2-sc-0"' in html and 'data-criteria="2"' in html
    assert "Test case 3 “Joined &lt;b&gt;late&lt;/b&gt;” will not be saved." in html  # its undo bar, numbered 3
    assert "<template data-joined-criteria>" in html and 'id="criterion-2"' in html
    assert '<p class="warning" role="alert">Generating for AC-2: Gemini returned 0 of the 1 asked.</p>' in html
    # Nothing new, a malformed question, or a review that ended meanwhile: nothing to add.
    every = f"{shown} {job.suggestions.last().pk}"
    assert "data-case" not in client_logged_in.get(url, {"start": 3, "shown": every}).content.decode()
    assert client_logged_in.get(url, {"start": "x"}).status_code == 204
    jobs.discard_job(job)
    assert client_logged_in.get(url, {"start": 2, "shown": shown}).status_code == 204


def test_a_criterion_whose_job_still_runs_shows_as_generating(client_logged_in, story):
    job = ready_job(story, suggestions=1)
    GenerationJob.objects.create(story=story, status=JobStatus.RUNNING, criteria=[2], extends=job)
    for url in (reverse("generation:review", args=[job.pk]), reverse("generation:review_joined", args=[job.pk])):
        html = client_logged_in.get(url, {"start": 1}, headers=HTMX).content.decode()
        assert '<li class="criterion uncovered queued" data-criterion="2"' in html
        assert "Generating for AC-2… the new suggestions join this review as soon as they are ready." in html
        assert 'queued" data-criterion="1"' not in html and 'data-criterion="1"' in html


@pytest.mark.django_db(transaction=True)  # the job runs here, with its own threads and connections
def test_generate_for_this_criterion_queues_a_job_for_that_criterion_only(
    client_logged_in, story, editor, django_capture_on_commit_callbacks
):
    job = ready_job(story, suggestions=1, scenarios_per_test=2, test_types=["API"])
    cite(job, 1)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_logged_in.post(reverse("generation:extend", args=[job.pk]), {"criteria": "2"}, headers=HTMX)

    html = response.content.decode()
    assert '<li class="criterion uncovered queued" data-criterion="2"' in html
    assert "Generating for AC-2" in toasts(response)[0]["message"]
    child = GenerationJob.objects.exclude(pk=job.pk).get()
    assert (child.criteria, child.extends_id, child.test_cases) == ([2], job.pk, 1)
    assert (child.scenarios_per_test, child.test_types, child.status) == (2, ["API"], JobStatus.QUEUED)

    # Run it here: its suggestions join the open review, and cite AC-2.
    assert jobs.run_job(child.pk) == "ready"
    assert [s["criteria"] for s in job.suggestions.last().scenarios] == [[2], [2]]


def test_only_editors_may_generate_for_a_criterion(client_logged_in, story, user, project):
    job = ready_job(story, suggestions=1)
    permissions.grant(user, project, Role.VIEWER)
    response = client_logged_in.post(reverse("generation:extend", args=[job.pk]), {"criteria": "2"})
    assert response.status_code == 403
    assert GenerationJob.objects.count() == 1


def test_the_generation_report_compares_prompt_versions_for_staff(client, story, user):
    old = ready_job(story, suggestions=2, prompt_version="v1")
    new = ready_job(factories.make_story(project=story.project), suggestions=2, prompt_version="v2")
    old.status, old.review_outcome = JobStatus.SAVED, {"suggested": 2, "unchanged": 0, "edited": 1, "deleted": 1}
    old.save()
    new.status, new.review_outcome = JobStatus.SAVED, {"suggested": 2, "unchanged": 2, "edited": 0, "deleted": 0}
    new.warnings = ["Gemini returned 2 of the 3 test cases asked (4 of 6 scenarios)."]
    new.save()

    client.force_login(user)
    assert client.get(reverse("generation:report")).status_code == 403
    staff = factories.make_user("staff", is_staff=True)
    client.force_login(staff)
    html = client.get(reverse("generation:report")).content.decode()
    rows = html.split("<tr>")[2:]
    assert "<code>v2</code>" in rows[0] and "<code>v1</code>" in rows[1]
    cells = [[c.split("</td>")[0] for c in row.split('<td class="col-num">')[1:]] for row in rows]
    assert cells[0] == ["1", "1", "1", "2", "100%", "0%", "0%", "–"]
    assert cells[1] == ["1", "0", "1", "2", "0%", "50%", "50%", "–"]
