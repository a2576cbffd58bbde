"""The job workflow as callers see it: queueing rules, running a job, saving reviewed suggestions, reaping."""

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from generation import jobs, runs
from generation.group_commit import GroupCommit
from generation.models import BatchCheckpoint, GenerationJob, JobStatus, SuggestedTestCase
from stories.models import TestCase
from tests import factories
from tests.cluster import wait_until
from tests.factories import make_ready_job

# --- queueing ----------------------------------------------------------------------------------------------------


def test_queueing_creates_a_queued_job_with_the_requested_parameters(story, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job, created = jobs.queue_generation(story, user=user, test_cases=4, scenarios_per_test=2, test_types=["API"])
    assert created
    job.refresh_from_db()
    assert (job.status, job.test_cases, job.scenarios_per_test, job.test_types) == ("queued", 4, 2, ["API"])
    assert job.requested_by == user
    assert job.generator == "offline"  # no GEMINI_API_KEY in tests
    assert job.task_id, "the task id of the queue is recorded"


def test_a_story_with_an_active_job_gets_that_job_back(story, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first, created_first = jobs.queue_generation(story)
        second, created_second = jobs.queue_generation(story.key)
    assert (created_first, created_second) == (True, False)
    assert first.pk == second.pk
    assert GenerationJob.objects.count() == 1


def test_a_story_without_a_project_is_refused_with_a_clear_message(db):
    orphan = factories.make_story(project=None, key="LOOSE-1")
    with pytest.raises(jobs.QueueError, match="This story is not linked to a project"):
        jobs.queue_generation(orphan)
    assert not GenerationJob.objects.exists()


def test_an_unknown_story_is_a_404_error(db):
    with pytest.raises(jobs.QueueError, match="no story with the key 'NOPE-1'") as error:
        jobs.queue_generation("NOPE-1")
    assert error.value.status == 404


@pytest.mark.parametrize(
    "options, message",
    [
        ({"test_cases": 0}, "between 1 and 10 test cases"),
        ({"test_cases": 11}, "between 1 and 10 test cases"),
        ({"scenarios_per_test": 99}, "between 1 and 10 scenarios"),
        ({"test_types": ["SMOKE"]}, "Unknown test type: SMOKE"),
        ({"test_types": []}, "at least one test type"),
        ({"test_cases": "five"}, "test_cases must be a whole number"),
    ],
)
def test_parameters_out_of_range_are_refused(story, options, message):
    with pytest.raises(jobs.QueueError, match=message):
        jobs.queue_generation(story, **options)
    assert not GenerationJob.objects.exists()


def test_an_unreachable_queue_fails_the_job_instead_of_leaving_it_queued(
    story, settings, monkeypatch, django_capture_on_commit_callbacks
):
    # The configured broker is a real Redis client pointed at a port where nothing listens.
    import django_q.tasks
    from django_q.brokers.redis_broker import Redis

    monkeypatch.setattr(Redis, "get_connection", staticmethod(_dead_redis))
    monkeypatch.setattr(django_q.tasks, "get_broker", lambda list_key=None: Redis(list_key="dead"))
    with pytest.raises(jobs.QueueError, match="Could not reach the job queue") as error:
        with django_capture_on_commit_callbacks(execute=True):
            jobs.queue_generation(story)
    assert error.value.status == 503
    job = GenerationJob.objects.get()
    assert job.status == JobStatus.FAILED
    assert "Could not reach the job queue" in job.error


def _dead_redis(list_key=None):
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))


# --- running inline (the offline generator, no worker) -----------------------------------------------------------


def test_running_a_job_ends_ready_with_the_requested_suggestions(transactional_db):
    story = factories.make_story()
    job, _ = jobs.queue_generation(story, test_cases=3, scenarios_per_test=2, enqueue=False)
    assert runs.run_job(job.pk) == "ready"
    job.refresh_from_db()
    assert job.status == JobStatus.READY
    assert (job.progress, job.attempts, job.generator) == (100, 1, "offline")
    assert job.started_at and job.finished_at and job.finished_at >= job.started_at
    suggestions = list(job.suggestions.all())
    assert len(suggestions) == 3
    assert all(len(s.scenarios) == 2 for s in suggestions)
    assert job.batches_total == BatchCheckpoint.objects.filter(job=job).count() >= 1


def test_running_a_finished_job_again_changes_nothing(transactional_db):
    story = factories.make_story()
    job, _ = jobs.queue_generation(story, test_cases=2, scenarios_per_test=1, enqueue=False)
    runs.run_job(job.pk)
    before = list(SuggestedTestCase.objects.values_list("pk", flat=True))
    assert runs.run_job(job.pk) == "skipped"
    assert list(SuggestedTestCase.objects.values_list("pk", flat=True)) == before
    job.refresh_from_db()
    assert job.attempts == 1


def test_a_run_does_not_start_while_another_live_run_holds_the_job(transactional_db):
    story = factories.make_story()
    job, _ = jobs.queue_generation(story, enqueue=False)
    GenerationJob.objects.filter(pk=job.pk).update(status="running", run_token="other", heartbeat_at=timezone.now())
    assert runs.run_job(job.pk) == "skipped"
    assert not job.suggestions.exists()


def test_a_run_takes_over_a_job_whose_worker_stopped_heartbeating(transactional_db, settings):
    story = factories.make_story()
    job, _ = jobs.queue_generation(story, test_cases=2, scenarios_per_test=1, enqueue=False)
    stale = timezone.now() - timedelta(seconds=settings.QAFORGE_JOB_STALE_SECONDS + 5)
    GenerationJob.objects.filter(pk=job.pk).update(status="running", run_token="dead", heartbeat_at=stale, attempts=1)
    assert runs.run_job(job.pk) == "ready"
    job.refresh_from_db()
    assert job.attempts == 2
    assert job.suggestions.count() == 2


def test_a_cancelled_job_is_not_run(transactional_db):
    story = factories.make_story()
    job, _ = jobs.queue_generation(story, enqueue=False)
    assert jobs.cancel_job(job)
    assert job.status == JobStatus.CANCELLED
    assert runs.run_job(job.pk) == "skipped"
    assert not jobs.cancel_job(job), "cancelling twice reports that nothing changed"


# --- reviewing and saving ----------------------------------------------------------------------------------------


def test_saving_turns_suggestions_into_the_storys_test_cases(story, user):
    job = make_ready_job(story, suggestions=2)
    saved = jobs.save_suggestions(job, user=user)
    assert [t.title for t in saved] == ["Suggested 0", "Suggested 1"]
    assert job.status == JobStatus.SAVED
    test_case = TestCase.objects.get(title="Suggested 0")
    assert (test_case.story, test_case.source_job, test_case.author) == (story, job, user)
    assert [s.name for s in test_case.scenarios.all()] == ["Happy path 0", "Empty 0"]
    assert "Scenario: Happy path 0" in test_case.feature_text()


def test_saving_twice_creates_nothing_twice(story):
    job = make_ready_job(story)
    first = jobs.save_suggestions(job)
    second = jobs.save_suggestions(job)
    assert {t.pk for t in first} == {t.pk for t in second}
    assert TestCase.objects.count() == 2


def test_saving_applies_the_leads_edits_and_deletions(story):
    job = make_ready_job(story, suggestions=2)
    first, second = job.suggestions.all()
    edits = [
        {
            "id": first.pk,
            "title": "Add one item",
            "priority": "low",
            "scenarios": [
                {"name": "Edited", "steps": "Given a cart\nWhen I add a book\nThen I see 1 book", "tags": "smoke"},
                {"name": "Gone", "steps": "Given x\nThen y", "delete": True},
            ],
        },
        {"id": second.pk, "delete": True},
    ]
    (saved,) = jobs.save_suggestions(job, edits)
    assert (saved.title, saved.priority) == ("Add one item", "low")
    (scenario,) = saved.scenarios.all()
    assert (scenario.name, scenario.tags) == ("Edited", ["@smoke"])
    assert "When I add a book" in scenario.steps


def test_invalid_gherkin_in_an_edit_saves_nothing_and_says_where(story):
    job = make_ready_job(story, suggestions=1)
    (suggestion,) = job.suggestions.all()
    edits = [{"id": suggestion.pk, "scenarios": [{"name": "Broken", "steps": "Given a cart\nWhen I add an item"}]}]
    with pytest.raises(jobs.SuggestionErrors) as error:
        jobs.save_suggestions(job, edits)
    assert error.value.errors == {
        suggestion.pk: {0: ["Steps: The scenario needs a 'Then' step that states the expected outcome."]}
    }
    assert not TestCase.objects.exists()
    job.refresh_from_db()
    assert job.status == JobStatus.READY


def test_only_a_ready_job_can_be_saved(story):
    job = GenerationJob.objects.create(story=story, status=JobStatus.RUNNING)
    with pytest.raises(jobs.JobStateError, match="ready to review"):
        jobs.save_suggestions(job)


def test_discarding_drops_the_suggestions(story):
    job = make_ready_job(story)
    assert jobs.discard_job(job)
    assert job.status == JobStatus.DISCARDED
    assert not SuggestedTestCase.objects.exists()


def test_latest_jobs_for_stories_is_one_query(db, django_assert_num_queries):
    stories = [factories.make_story() for _ in range(3)]
    old = GenerationJob.objects.create(story=stories[0], status="saved", queued_at=timezone.now() - timedelta(hours=1))
    new = GenerationJob.objects.create(story=stories[0], status="queued")
    other = GenerationJob.objects.create(story=stories[1], status="failed")
    with django_assert_num_queries(1):
        latest = jobs.latest_jobs_for([s.pk for s in stories])
    assert latest == {stories[0].pk: new, stories[1].pk: other}
    assert old not in latest.values()


# --- reaping -------------------------------------------------------------------------------------------------------


def test_the_reaper_requeues_a_running_job_with_a_stale_heartbeat(story, settings, django_capture_on_commit_callbacks):
    stale = timezone.now() - timedelta(seconds=settings.QAFORGE_JOB_STALE_SECONDS + 1)
    job = GenerationJob.objects.create(story=story, status="running", heartbeat_at=stale, attempts=1, run_token="x")
    assert jobs.reap_stale_jobs() == {"requeued": 1, "failed": 0}
    job.refresh_from_db()
    assert (job.status, job.run_token) == ("queued", "")
    assert job.task_id


def test_the_reaper_leaves_a_live_job_alone(story):
    GenerationJob.objects.create(story=story, status="running", heartbeat_at=timezone.now(), attempts=1)
    assert jobs.reap_stale_jobs() == {"requeued": 0, "failed": 0}


def test_the_reaper_fails_a_job_after_the_maximum_attempts(story, settings):
    stale = timezone.now() - timedelta(seconds=settings.QAFORGE_JOB_STALE_SECONDS + 1)
    job = GenerationJob.objects.create(
        story=story, status="running", heartbeat_at=stale, attempts=settings.QAFORGE_JOB_MAX_ATTEMPTS
    )
    assert jobs.reap_stale_jobs() == {"requeued": 0, "failed": 1}
    job.refresh_from_db()
    assert job.status == "failed"
    assert "worker stopped responding" in job.error


def test_the_reaper_requeues_a_queued_job_whose_task_vanished_but_not_one_still_waiting(story, settings):
    old = timezone.now() - timedelta(seconds=settings.QAFORGE_JOB_STALE_SECONDS + 1)
    lost = GenerationJob.objects.create(story=story, status="queued", queued_at=old, task_id="gone")
    waiting, _ = jobs.queue_generation(factories.make_story(), enqueue=False)
    jobs._queue_task(waiting)
    GenerationJob.objects.filter(pk=waiting.pk).update(queued_at=old)
    assert jobs.reap_stale_jobs()["requeued"] == 1
    lost.refresh_from_db()
    assert lost.task_id != "gone"
    waiting_after = GenerationJob.objects.get(pk=waiting.pk)
    assert waiting_after.task_id == waiting.task_id


def test_the_reaper_runs_every_minute_on_a_django_q_schedule(db):
    from django_q.models import Schedule

    schedule = Schedule.objects.get(func="generation.tasks.reap_stale_jobs")
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == ("I", 1, -1)


@pytest.mark.parametrize(
    "edit, message",
    [
        ({"priority": "urgent"}, "Priority: Select a valid choice. urgent is not one of the available choices."),
        ({"title": "x" * 301}, "Title: Ensure this value has at most 300 characters (it has 301)."),
        ({"title": "  "}, "Title: This field is required."),
        ({"scenarios": []}, "Keep at least one scenario, or delete the whole test case."),
    ],
)
def test_edits_that_the_database_would_refuse_are_reported_not_saved(story, edit, message):
    job = make_ready_job(story, suggestions=1)
    (suggestion,) = job.suggestions.all()
    with pytest.raises(jobs.SuggestionErrors) as error:
        jobs.save_suggestions(job, [{"id": suggestion.pk, **edit}])
    assert error.value.errors[suggestion.pk][-1][0].startswith(message)
    assert not TestCase.objects.exists()


def test_a_scenario_name_longer_than_the_column_is_reported(story):
    job = make_ready_job(story, suggestions=1)
    (suggestion,) = job.suggestions.all()
    long_name = {"name": "n" * 301, "steps": "Given a cart\nWhen I add an item\nThen I see 1 item"}
    with pytest.raises(jobs.SuggestionErrors) as error:
        jobs.save_suggestions(job, [{"id": suggestion.pk, "scenarios": [long_name]}])
    assert error.value.errors[suggestion.pk][0] == ["Name: Ensure this value has at most 300 characters (it has 301)."]


def test_requeue_keeps_one_active_job_per_story_and_leaves_a_live_run_alone(story):
    old = GenerationJob.objects.create(story=story, status=JobStatus.FAILED, error="boom")
    GenerationJob.objects.create(story=story, status=JobStatus.RUNNING, heartbeat_at=timezone.now())
    with pytest.raises(jobs.JobStateError, match="already has a queued or running job"):
        jobs.requeue_job(old)
    live = GenerationJob.objects.get(status=JobStatus.RUNNING)
    with pytest.raises(jobs.JobStateError, match="running on a live worker"):
        jobs.requeue_job(live)


def _batches_done(*results, total: int = 2) -> GenerationJob:
    """A running job whose engine reported these finished batches (through a worker's writer, as a run does)."""
    job, _ = jobs.queue_generation(factories.make_story(), enqueue=False)
    GenerationJob.objects.filter(pk=job.pk).update(status="running", run_token="t")
    writer = GroupCommit().start()
    run = runs._Run(job, runs.Lease("t"), writer)
    for result in results:
        run.on_batch_done(result, 1, total)
    writer.stop()
    return job


def test_a_failed_batch_is_not_checkpointed_so_the_next_run_asks_it_again(transactional_db):
    from generation.engine import BatchResult

    failed = BatchResult(index=0, suggestions=[], attempts=4, retries=3, seconds=1.0, dropped_invalid=0, error="500")
    job = _batches_done(failed)
    assert not BatchCheckpoint.objects.filter(job=job).exists()


def test_a_batch_checkpointed_again_by_a_retried_run_is_replaced_not_added(transactional_db):
    from generation.engine import BatchResult

    job = _batches_done(*(BatchResult(index=0, suggestions=[], attempts=1, seconds=s) for s in (1.0, 2.0)))
    [checkpoint] = BatchCheckpoint.objects.filter(job=job)
    assert checkpoint.result["seconds"] == 2.0
    job.refresh_from_db()
    assert (job.batches_done, job.batches_total, job.phase) == (1, 2, "Batch 1 of 2")


def test_writes_handed_to_the_writer_together_are_committed_together_and_one_failure_keeps_the_others(
    transactional_db,
):
    story = factories.make_story()
    job, _ = jobs.queue_generation(story, enqueue=False)
    writer = GroupCommit()  # not started yet: both writes wait, then go in one transaction
    outcomes = {}

    def hand(name, fn):
        try:
            outcomes[name] = writer.run(fn)
        except Exception as error:  # noqa: BLE001
            outcomes[name] = error

    def checkpoint():
        BatchCheckpoint.objects.create(job=job, index=0, result={})
        return "written"

    def broken():
        BatchCheckpoint.objects.create(job=job, index=1, result={})
        raise ValueError("this write fails")

    threads = [threading.Thread(target=hand, args=item) for item in (("good", checkpoint), ("bad", broken))]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(writer._pending) == 2, message="both writes waiting")
    writer.start()
    for thread in threads:
        thread.join(timeout=10)
    writer.stop()
    assert outcomes["good"] == "written"
    assert isinstance(outcomes["bad"], ValueError)
    assert list(BatchCheckpoint.objects.filter(job=job).values_list("index", flat=True)) == [0]


def test_saving_with_nothing_kept_is_a_discard(story):
    job = make_ready_job(story)
    edits = [{"id": s.pk, "delete": True} for s in job.suggestions.all()]
    assert jobs.save_suggestions(job, edits) == []
    assert job.status == JobStatus.DISCARDED
    assert job.phase == "Discarded: nothing was kept"
    assert not SuggestedTestCase.objects.exists()
    with pytest.raises(jobs.JobStateError):  # and it stays discarded: a second save does not "save" it
        jobs.save_suggestions(job)


def test_a_task_s_reading_thread_drops_a_connection_that_failed_and_the_next_job_reads_again(transactional_db):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import OperationalError, connection

    story = factories.make_story(title="Read by the task's reading thread")
    reads = ThreadPoolExecutor(max_workers=1)
    shared = runs.Shared(lease=runs.Lease(), writer=None, reads=reads)

    def on_a_broken_connection():
        connection.ensure_connection()
        raise OperationalError("server closed the connection unexpectedly")

    try:
        with pytest.raises(OperationalError):
            shared.read(on_a_broken_connection)
        assert reads.submit(lambda: connection.connection).result() is None, "the broken connection is not kept"
        assert shared.read(lambda: type(story).objects.get(pk=story.pk).title) == "Read by the task's reading thread"
    finally:
        reads.submit(lambda: connection.close()).result()
        reads.shutdown()
