"""The Django admin for jobs, their suggestions and django-q2's queue."""

import pytest

from generation.models import GenerationJob, JobStatus, SuggestedTestCase


@pytest.fixture
def jobs_rows(story):
    ready = GenerationJob.objects.create(story=story, status=JobStatus.READY, generator="offline", progress=100)
    SuggestedTestCase.objects.create(
        job=ready, title="Add one item", scenarios=[{"name": "s", "steps": "Given a\nThen b", "tags": []}]
    )
    running = GenerationJob.objects.create(
        story=story, status=JobStatus.RUNNING, progress=40, phase="Batch 2 of 3", error="", report={"retries": 1}
    )
    return ready, running


@pytest.mark.parametrize(
    "url",
    [
        "/admin/generation/generationjob/",
        "/admin/generation/generationjob/?status__exact=ready",
        "/admin/generation/generationjob/?q=SHOP-12",
        "/admin/generation/suggestedtestcase/",
        "/admin/django_q/schedule/",
        "/admin/django_q/success/",
        "/admin/django_q/failure/",
    ],
)
def test_admin_lists_load(admin_user_logged_in, jobs_rows, url):
    response = admin_user_logged_in.get(url)
    assert response.status_code == 200


def test_the_orm_broker_s_queue_is_in_the_admin_when_it_is_the_broker(admin_user_logged_in):
    from django_q.conf import Conf

    expected = 200 if Conf.ORM else 404  # with Redis the queue lives in Redis, not in a table
    assert admin_user_logged_in.get("/admin/django_q/ormq/").status_code == expected


def test_a_job_page_shows_progress_and_its_suggestions_inline(admin_user_logged_in, jobs_rows):
    ready, running = jobs_rows
    page = admin_user_logged_in.get(f"/admin/generation/generationjob/{ready.pk}/change/").content.decode()
    assert "Add one item" in page
    listing = admin_user_logged_in.get("/admin/generation/generationjob/").content.decode()
    assert '<progress max="100" value="40" style="width: 4rem"></progress> 40%' in listing
    assert "SHOP-12" in listing


def test_admin_actions_cancel_and_discard(admin_user_logged_in, jobs_rows):
    ready, running = jobs_rows
    url = "/admin/generation/generationjob/"
    admin_user_logged_in.post(url, {"action": "cancel_jobs", "_selected_action": [running.pk]})
    admin_user_logged_in.post(url, {"action": "discard_jobs", "_selected_action": [ready.pk]})
    running.refresh_from_db()
    ready.refresh_from_db()
    assert (running.status, ready.status) == ("cancelled", "discarded")
    assert not SuggestedTestCase.objects.exists()


def test_admin_requeues_a_failed_job(admin_user_logged_in, story, django_capture_on_commit_callbacks):
    failed = GenerationJob.objects.create(story=story, status=JobStatus.FAILED, error="Gemini rejected the API key")
    response = admin_user_logged_in.post(
        "/admin/generation/generationjob/", {"action": "requeue_jobs", "_selected_action": [failed.pk]}, follow=True
    )
    failed.refresh_from_db()
    assert (failed.status, failed.error) == ("queued", "")
    assert failed.task_id
    assert "Re-queued 1 job(s)." in response.content.decode()


def test_saved_jobs_cannot_be_requeued(admin_user_logged_in, story):
    saved = GenerationJob.objects.create(story=story, status=JobStatus.SAVED)
    response = admin_user_logged_in.post(
        "/admin/generation/generationjob/", {"action": "requeue_jobs", "_selected_action": [saved.pk]}, follow=True
    )
    saved.refresh_from_db()
    assert saved.status == "saved"
    assert "saved or discarded job cannot be queued again" in response.content.decode()


def test_a_job_is_read_only_in_the_admin_and_changed_only_by_actions(admin_user_logged_in, jobs_rows):
    ready, running = jobs_rows
    url = f"/admin/generation/generationjob/{running.pk}/change/"
    page = admin_user_logged_in.get(url).content.decode()
    assert 'name="status"' not in page and 'name="progress"' not in page  # shown, not editable
    assert "Batch 2 of 3" in page
    # A forged post changes nothing either.
    admin_user_logged_in.post(url, {"status": "ready", "progress": "100"})
    running.refresh_from_db()
    assert (running.status, running.progress) == ("running", 40)
    assert admin_user_logged_in.get("/admin/generation/generationjob/add/").status_code == 403


def test_a_job_page_shows_warnings_as_a_list_and_the_report_as_indented_json(admin_user_logged_in, story):
    job = GenerationJob.objects.create(
        story=story,
        status=JobStatus.READY,
        warnings=["Gemini returned 4 of the 5 test cases asked.", "2 scenarios were dropped: no <Then> step."],
        report={"batches": 2, "retries": {"rate_limited": 1}},
    )
    page = admin_user_logged_in.get(f"/admin/generation/generationjob/{job.pk}/change/").content.decode()
    assert "<li>Gemini returned 4 of the 5 test cases asked.</li>" in page
    assert "<li>2 scenarios were dropped: no &lt;Then&gt; step.</li>" in page
    assert '{\n  "batches": 2,\n  "retries": {\n    "rate_limited": 1\n  }\n}' in page.replace("&quot;", '"')
