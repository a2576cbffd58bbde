"""A short Gemini answer reaches the QA lead: the job's warnings and counts, the badge, the toast, the review
header, the API and `generate_tests`' exit code."""

import subprocess
import sys

import pytest
from django.urls import reverse

from generation import jobs
from generation.badges import render_badge, render_job_toast
from generation.models import GenerationJob
from tests.services import ROOT, django_env

pytestmark = pytest.mark.django_db(transaction=True)  # run_job manages its own connections and threads

HTMX = {"HX-Request": "true"}
SHORT = "Gemini returned 4 of the 5 test cases asked (12 of 15 scenarios)."


@pytest.fixture
def short_job(story, fake_gemini):
    """A job whose every call to Gemini leaves out the last test case: 5 asked, 4 come back."""
    fake_gemini.configure(faults=[{"fault": "leave_out", "times": -1}])
    job, _ = jobs.queue_generation(story, test_cases=5, scenarios_per_test=3, enqueue=False)
    assert jobs.run_job(job.pk) == "ready"
    job.refresh_from_db()
    return job


def test_the_job_records_what_is_missing(short_job, fake_gemini):
    assert len(fake_gemini.calls) == 2  # the answer, then one follow-up for case 5
    assert short_job.warnings == [SHORT]
    assert (short_job.asked, short_job.got) == ({"test_cases": 5, "scenarios": 15}, {"test_cases": 4, "scenarios": 12})
    assert short_job.suggestions.count() == 4


def test_the_badge_says_how_many_came_back(short_job):
    html = render_badge(short_job.story, short_job)
    assert "Ready to review · 4 of 5" in html
    assert f'title="{SHORT}"' in html


def test_the_toast_is_a_warning_naming_the_shortfall(short_job):
    html = render_job_toast(short_job)
    assert "toast-warning" in html
    assert f"{short_job.story.key} ready to review · 4 of 5" in html
    assert f"<li>{SHORT}</li>" in html


def test_the_review_header_shows_the_warning(short_job, client_logged_in):
    response = client_logged_in.get(reverse("generation:review", args=[short_job.pk]), headers=HTMX)
    assert f'<p class="warning" role="alert">{SHORT}</p>' in response.content.decode()


def test_the_api_reports_the_warning(short_job, client_logged_in):
    data = client_logged_in.get(reverse("api:job_status", args=[short_job.pk])).json()
    assert data["warning"] == SHORT


@pytest.mark.slow
def test_generate_tests_prints_the_warning_and_exits_3(story, fake_gemini):
    fake_gemini.configure(faults=[{"fault": "leave_out", "times": -1}])
    env = django_env(GEMINI_API_KEY="test-key-not-secret", GEMINI_BASE_URL=fake_gemini.url)
    command = [sys.executable, "manage.py", "generate_tests", story.key, "--inline", "--wait", "--poll", "0.1"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 3, result.stderr
    assert f"{story.key}: ready — 4 suggested test cases (4 of 5 asked)" in result.stdout
    assert f"{story.key}: warning: {SHORT}" in result.stdout
    assert "1 finished with warnings" in result.stderr
    assert GenerationJob.objects.get(story=story).warnings == [SHORT]


def test_generate_tests_documents_its_exit_codes():
    result = subprocess.run(
        [sys.executable, "manage.py", "generate_tests", "--help"],
        cwd=ROOT,
        env=django_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    text = " ".join(result.stdout.split())
    assert "0 every job is ready" in text and "1 a job failed" in text and "3 every job finished" in text


def test_a_short_extension_is_a_shortfall_of_the_review_it_joins(story, fake_gemini):
    review, _ = jobs.queue_generation(story, test_cases=2, scenarios_per_test=2, enqueue=False)
    assert jobs.run_job(review.pk) == "ready"
    review.refresh_from_db()
    fake_gemini.configure(faults=[{"fault": "leave_out", "times": -1}])  # the last test case asked never comes
    extension, _ = jobs.queue_generation(
        story, test_cases=2, scenarios_per_test=2, criteria=[2], extends=review, enqueue=False
    )
    assert jobs.run_job(extension.pk) == "ready"

    review.refresh_from_db()
    assert review.suggestions.count() == 3
    (warning,) = review.warnings
    assert warning == "Generating for AC-2: Gemini returned 1 of the 2 test cases asked (2 of 4 scenarios)."
    assert (review.asked, review.got) == ({"test_cases": 4, "scenarios": 8}, {"test_cases": 3, "scenarios": 6})
    assert "Ready to review · 3 of 4" in render_badge(review.story, review)


def extend(review, **options):
    extension, _ = jobs.queue_generation(
        review.story, test_cases=1, scenarios_per_test=1, criteria=[2], extends=review, enqueue=False, **options
    )
    return extension


def test_a_failed_extension_hands_the_story_back_to_the_open_review(story, fake_gemini):
    review, _ = jobs.queue_generation(story, test_cases=1, scenarios_per_test=1, enqueue=False)
    assert jobs.run_job(review.pk) == "ready"
    review.refresh_from_db()
    fake_gemini.configure(faults=[{"fault": "bad_key", "times": -1}])
    extension = extend(review)
    assert jobs.run_job(extension.pk) == "failed"

    # The review is the story's latest job again (badge, review queue), saying what did not arrive and why.
    assert jobs.latest_jobs_for([story.pk])[story.pk].pk == review.pk
    review.refresh_from_db()
    (warning,) = review.warnings
    extension.refresh_from_db()
    assert warning == f"Generating for AC-2 did not finish: {extension.error}"
    assert "Ready to review" in render_badge(story, review)


def test_a_cancelled_extension_hands_the_story_back_to_the_open_review(story):
    review = GenerationJob.objects.create(story=story, status="ready", generator="offline")
    extension = extend(review)
    assert jobs.latest_jobs_for([story.pk])[story.pk].pk == extension.pk
    assert jobs.cancel_job(extension)
    assert jobs.latest_jobs_for([story.pk])[story.pk].pk == review.pk
    review.refresh_from_db()
    assert review.warnings == ["Generating for AC-2 was cancelled."]
