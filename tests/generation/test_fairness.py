"""Fair queueing: jobs are taken round-robin across the leads who asked, so one lead's bulk request does not hold
back another lead's single story; the same order tells a queued badge how many jobs are ahead."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from generation import jobs, runs
from generation.badges import badge_context
from generation.engine import GenerationRequest
from generation.models import GenerationJob, JobStatus
from tests import factories
from tests.cluster import running_cluster, wait_until
from tests.fake_gemini import start_fake_gemini

HTMX = {"HX-Request": "true"}


def test_fair_order_takes_turns_across_requesters():
    t = timezone.now()
    queued = [(f"a{i}", "alice", t + timedelta(seconds=i)) for i in range(4)] + [
        ("b0", "bob", t + timedelta(seconds=9))
    ]
    assert runs.fair_order(queued, Counter()) == ["a0", "b0", "a1", "a2", "a3"]
    # Alice already has two jobs running: Bob's single story goes first.
    assert runs.fair_order(queued, Counter({"alice": 2})) == ["b0", "a0", "a1", "a2", "a3"]


def test_a_queued_badge_says_how_many_jobs_are_ahead(db, project):
    alice, bob = factories.make_user("alice"), factories.make_user("bob")
    bulk = [
        GenerationJob.objects.create(story=factories.make_story(project=project), requested_by=alice) for _ in range(5)
    ]
    single = GenerationJob.objects.create(story=factories.make_story(project=project), requested_by=bob)
    runs.forget_queue_positions()
    assert badge_context(bulk[0].story, bulk[0])["label"] == "Queued"
    assert badge_context(single.story, single)["label"] == "Queued · 1 ahead", "one of Alice's, then Bob's turn"
    assert badge_context(bulk[4].story, bulk[4])["label"] == "Queued · 5 ahead"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_single_story_queued_behind_forty_starts_before_most_of_them(tmp_path):
    fake = start_fake_gemini(latency=0.3)
    env = {
        "GEMINI_API_KEY": "test-key-not-secret",
        "GEMINI_BASE_URL": fake.url,
        "QAFORGE_WORKERS": "1",
        "QAFORGE_JOBS_PER_WORKER": "2",  # two jobs at a time, so the forty take twenty rounds
    }
    alice, bob = factories.make_user("alice"), factories.make_user("bob")
    project = factories.make_project(key="FAIR")
    try:
        with running_cluster(tmp_path, **env):
            with jobs.enqueue_together():
                bulk = [
                    jobs.queue_generation(factories.make_story(project=project), user=alice, test_cases=1)[0].pk
                    for _ in range(40)
                ]
            wait_until(lambda: GenerationJob.objects.filter(status=JobStatus.RUNNING).exists(), message="a start")
            single, _ = jobs.queue_generation(factories.make_story(project=project), user=bob, test_cases=1)
            everything = [*bulk, single.pk]
            wait_until(
                lambda: not GenerationJob.objects.filter(pk__in=everything, status__in=["queued", "running"]).exists(),
                timeout=90,
                message="every job to finish",
            )
    finally:
        fake.stop()
    single.refresh_from_db()
    assert single.status == "ready"
    later = GenerationJob.objects.filter(pk__in=bulk, started_at__gt=single.started_at).count()
    assert later >= 30, f"only {later} of Alice's 40 started after Bob's single story"


# --- what the generate dialog says a selection will cost -----------------------------------------------------------


def test_the_estimate_counts_calls_and_names_the_limit_that_sets_the_time(db, settings):
    settings.QAFORGE_LLM_RPM, settings.QAFORGE_LLM_RATE_WINDOW_SECONDS = 100, 60
    request = GenerationRequest(test_cases=9, scenarios_per_test=5)  # 45 scenarios: 3 calls
    assert runs.estimate(10, request) == {
        "calls": 30,
        "seconds": runs.DEFAULT_CALL_SECONDS,
        "limited_by": "",
        "ahead_calls": 0,
    }
    guess = runs.estimate(50, request)  # 150 calls: the last 50 wait a window
    assert (guess["calls"], guess["limited_by"]) == (150, "requests per minute")
    assert guess["seconds"] == 60 + runs.DEFAULT_CALL_SECONDS


def test_the_estimate_counts_the_work_already_queued_or_running_ahead_of_the_selection(db, project, settings):
    settings.QAFORGE_LLM_RPM, settings.QAFORGE_LLM_RATE_WINDOW_SECONDS = 100, 60
    request = GenerationRequest(test_cases=9, scenarios_per_test=5)  # 3 calls a story
    for _ in range(30):  # queued: 3 calls each, 90
        GenerationJob.objects.create(story=factories.make_story(project=project), test_cases=9, scenarios_per_test=5)
    GenerationJob.objects.create(  # running, 2 of its 10 batches done: 8 calls left
        story=factories.make_story(project=project), status=JobStatus.RUNNING, batches_total=10, batches_done=2
    )
    GenerationJob.objects.create(story=factories.make_story(project=project), status=JobStatus.READY)  # done: none
    assert runs.work_ahead() == {"jobs": 31, "calls": 98}
    guess = runs.estimate(1, request)  # alone, 3 calls would take one call's time; behind 98, they wait a window
    assert (guess["calls"], guess["ahead_calls"], guess["limited_by"]) == (3, 98, "requests per minute")
    assert guess["seconds"] == 60 + runs.DEFAULT_CALL_SECONDS


def test_the_generate_dialog_says_how_much_is_queued_ahead(client_logged_in, project, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "test-key-not-secret")
    GenerationJob.objects.create(story=factories.make_story(project=project), test_cases=9, scenarios_per_test=5)
    story = factories.make_story(project=project, key="SHOP-1")
    page = client_logged_in.get(reverse("generation:generate"), {"stories": story.key}, headers=HTMX).content.decode()
    assert "About 1 model call · about 20 s with 3 calls queued ahead" in page


def test_the_generate_dialog_shows_the_estimate_and_follows_the_options(client_logged_in, project, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "test-key-not-secret")
    keys = [factories.make_story(project=project, key=f"SHOP-{n}").key for n in range(1, 4)]
    page = client_logged_in.get(reverse("generation:generate"), {"stories": keys}, headers=HTMX).content.decode()
    assert 'id="generate-estimate"' in page
    assert "About 3 model calls · about 20 s" in page  # 5 x 3 scenarios fit one call

    changed = client_logged_in.get(
        reverse("generation:generate"),
        {"stories": keys, "test_cases": "10", "scenarios_per_test": "10", "test_types": "UI"},
        headers={**HTMX, "HX-Target": "generate-estimate"},
    ).content.decode()
    assert changed.lstrip().startswith('<p id="generate-estimate"'), "only the estimate comes back"
    assert "About 30 model calls" in changed  # 10 scenarios a test case, one test case a call


def test_with_the_offline_generator_the_dialog_says_no_calls_are_made(client_logged_in, story):
    page = client_logged_in.get(reverse("generation:generate"), {"stories": story.key}, headers=HTMX).content.decode()
    assert "The offline generator makes no model calls" in page
