"""Jobs on the real django-q2 cluster (a `qcluster` subprocess) against the test database.

The broker is whatever the settings choose: the ORM broker by default, Redis when REDIS_URL is set (CI runs both).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from django.db import transaction

from generation import jobs
from generation.models import BatchCheckpoint, GenerationJob, JobStatus
from tests import factories
from tests.cluster import module_cluster, running_cluster, wait_until
from tests.fake_gemini import start_fake_gemini
from tests.services import ROOT, django_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

STALE_SECONDS = 3
# The cluster runs the Gemini generator against the fake server, with short heartbeats and fast retries.
CLUSTER_ENV = {
    "GEMINI_API_KEY": "test-key-not-secret",
    "QAFORGE_JOB_STALE_SECONDS": str(STALE_SECONDS),
    "QAFORGE_HEARTBEAT_SECONDS": "0.5",
    "QAFORGE_RETRY_BASE_SECONDS": "0.01",
    "QAFORGE_RETRY_MAX_SECONDS": "0.05",
    "QAFORGE_LLM_TIMEOUT_SECONDS": "5",
}


@pytest.fixture(scope="module")
def fake():
    server = start_fake_gemini()
    yield server
    server.stop()


# Two worker processes: each runs many jobs at once, so two are plenty (and show that jobs outnumber workers).
WORKERS = 2
cluster = module_cluster(**CLUSTER_ENV, QAFORGE_WORKERS=str(WORKERS))


@pytest.fixture(autouse=True)
def fresh_fake(fake, settings):
    fake.reset()
    settings.QAFORGE_JOB_STALE_SECONDS = STALE_SECONDS  # for the reaper when a test calls it directly
    yield fake


def statuses(job_ids) -> list[str]:
    return list(GenerationJob.objects.filter(pk__in=job_ids).values_list("status", flat=True))


def all_finished(job_ids):
    return all(s in ("ready", "failed", "cancelled") for s in statuses(job_ids))


def manage(*args, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=django_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_ten_jobs_queued_together_all_reach_ready(cluster):
    project = factories.make_project(key="TEN")
    stories = [factories.make_story(project=project) for _ in range(10)]
    job_ids = [jobs.queue_generation(s, test_cases=2, scenarios_per_test=2)[0].pk for s in stories]
    wait_until(lambda: all_finished(job_ids), timeout=60, message="10 jobs to finish")
    assert statuses(job_ids) == ["ready"] * 10
    for job in GenerationJob.objects.filter(pk__in=job_ids):
        assert job.suggestions.count() == 2
        assert job.attempts == 1
        assert job.generator == "gemini"
    # A generation task that succeeded leaves no django-q2 result behind: its job's row is the record. (A task the
    # cluster runs after them has its result saved by the same monitor, in order, so theirs would be there by now.)
    from django_q.models import Task
    from django_q.tasks import async_task, result

    assert result(async_task("generation.tasks.ping", save=True), wait=20_000) == "pong"
    assert not Task.objects.filter(name__startswith="generate TEN-").exists()


def test_thirty_jobs_on_two_workers_run_at_the_same_time(cluster, fake):
    fake.configure(latency=0.5)
    project = factories.make_project(key="SPRINT")
    stories = [factories.make_story(project=project) for _ in range(30)]
    job_ids = [jobs.queue_generation(s, test_cases=1, scenarios_per_test=2)[0].pk for s in stories]
    wait_until(lambda: all_finished(job_ids), timeout=90, message="30 jobs to finish")
    assert statuses(job_ids) == ["ready"] * 30
    assert len(fake.calls) == 30, "one call per job, none repeated"
    # One batch per job: calls in flight together are jobs in flight together.
    assert fake.max_in_flight > WORKERS, "more jobs ran at once than there are worker processes"
    workers = set(GenerationJob.objects.filter(pk__in=job_ids).values_list("worker", flat=True))
    assert 1 <= len(workers) <= WORKERS


def test_two_requests_for_the_same_story_run_one_job(cluster):
    story = factories.make_story()
    first, _ = jobs.queue_generation(story, test_cases=1, scenarios_per_test=1)
    second, created = jobs.queue_generation(story, test_cases=1, scenarios_per_test=1)
    assert not created and first.pk == second.pk
    wait_until(lambda: all_finished([first.pk]), message="the job to finish")
    assert GenerationJob.objects.filter(story=story).count() == 1
    assert GenerationJob.objects.get(pk=first.pk).suggestions.count() == 1


def test_a_job_cancelled_while_queued_never_runs(cluster):
    story = factories.make_story()
    with transaction.atomic():  # its task reaches the broker on commit: cancelled before any worker can take it
        job, _ = jobs.queue_generation(story)
        jobs.cancel_job(job)
    other, _ = jobs.queue_generation(factories.make_story(), test_cases=1, scenarios_per_test=1)
    wait_until(lambda: all_finished([other.pk]), message="the other job to finish")
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("cancelled", 0)
    assert not job.suggestions.exists()


def test_generate_tests_waits_and_exits_zero_when_every_job_is_ready(cluster):
    project = factories.make_project(key="CMD")
    factories.make_story(project=project, key="CMD-1")
    factories.make_story(project=project, key="CMD-2")
    result = manage("generate_tests", "CMD-1", "CMD-2", "--test-cases", "2", "--wait", "--poll", "0.1")
    assert result.returncode == 0, result.stderr
    assert "CMD-1: ready — 2 suggested test cases" in result.stdout
    assert "CMD-2: ready" in result.stdout
    assert "CMD-1: running" in result.stdout or "CMD-1: queued" in result.stdout, "progress is shown while waiting"


def test_generate_tests_exits_non_zero_naming_the_story_that_failed():
    factories.make_story(key="CMD-9", project=None)
    result = manage("generate_tests", "CMD-9", "--inline")
    assert result.returncode != 0
    assert "CMD-9: This story is not linked to a project" in result.stderr


def test_generate_tests_inline_needs_no_worker():
    project = factories.make_project(key="INL")
    factories.make_story(project=project, key="INL-1")
    result = manage("generate_tests", "--project", "INL", "--inline", "--test-cases", "3")
    assert result.returncode == 0, result.stderr
    job = GenerationJob.objects.get(story__key="INL-1")
    assert (job.status, job.suggestions.count()) == ("ready", 3)


def test_unknown_story_keys_are_a_clear_error():
    result = manage("generate_tests", "NOPE-404")
    assert result.returncode != 0
    assert "Unknown story key(s): NOPE-404" in result.stderr


def test_a_dead_broker_gives_a_clear_error_and_leaves_no_job_queued():
    factories.make_story(key="DEAD-1")
    result = manage("generate_tests", "DEAD-1", REDIS_URL="redis://127.0.0.1:1/0")
    assert result.returncode != 0
    assert "Could not reach the job queue" in result.stderr
    job = GenerationJob.objects.get(story__key="DEAD-1")
    assert job.status == JobStatus.FAILED
    assert "Could not reach the job queue" in job.error


def worker_pid(job_id) -> int:
    """The pid of the worker process that holds the job (recorded as host:pid when it claimed the job)."""
    worker = wait_until(
        lambda: GenerationJob.objects.filter(pk=job_id, status="running").values_list("worker", flat=True).first(),
        timeout=30,
        message="a worker to claim the job",
    )
    return int(worker.rsplit(":", 1)[1])


def test_a_killed_worker_s_job_still_ends_ready_with_exactly_one_set_of_suggestions(cluster, fake):
    # Batches 0 and 1 answer at once, batch 2 hangs: the worker is killed with two batches checkpointed.
    fake.configure(faults=[{"fault": "hang", "batch": 2, "times": 1}], hang_seconds=30)
    story = factories.make_story()
    job, _ = jobs.queue_generation(story, test_cases=9, scenarios_per_test=5)  # 45 scenarios, 3 batches
    pid = worker_pid(job.pk)
    wait_until(lambda: BatchCheckpoint.objects.filter(job=job).count() == 2, message="two checkpoints")
    os.kill(pid, signal.SIGKILL)

    time.sleep(STALE_SECONDS + 0.5)
    assert jobs.reap_stale_jobs()["requeued"] == 1
    wait_until(lambda: all_finished([job.pk]), timeout=30, message="the re-queued job to finish")

    job.refresh_from_db()
    assert (job.status, job.attempts) == ("ready", 2)
    assert job.suggestions.count() == 9, "one set of suggestions, no duplicates"
    assert sum(len(s.scenarios) for s in job.suggestions.all()) == 45
    batches_asked = [c.get("batch") for c in fake.calls]
    assert batches_asked.count(2) == 2 and batches_asked.count(0) == 1, "only the missing batch was asked again"


def test_a_killed_worker_holding_several_jobs_loses_nothing_and_duplicates_nothing(cluster, fake):
    # Each job has two batches; batch 0 answers at once, the first batch-1 call of every job hangs: the worker is
    # killed while it holds several jobs, each with one batch checkpointed.
    fake.configure(faults=[{"fault": "hang", "batch": 1, "times": 6}], hang_seconds=30)
    project = factories.make_project(key="KILL")
    job_ids = [
        jobs.queue_generation(factories.make_story(project=project), test_cases=6, scenarios_per_test=5)[0].pk
        for _ in range(6)
    ]
    wait_until(lambda: BatchCheckpoint.objects.filter(job_id__in=job_ids).count() == 6, message="six checkpoints")
    holders = {}
    for pk, worker in GenerationJob.objects.filter(pk__in=job_ids, status="running").values_list("pk", "worker"):
        holders.setdefault(worker, []).append(pk)
    worker, held = max(holders.items(), key=lambda item: len(item[1]))
    assert len(held) >= 2, f"one worker holds several jobs: {holders}"
    os.kill(int(worker.rsplit(":", 1)[1]), signal.SIGKILL)

    time.sleep(STALE_SECONDS + 0.5)
    assert jobs.reap_stale_jobs()["requeued"] == len(held)
    wait_until(lambda: all_finished(job_ids), timeout=60, message="every job to finish")

    assert statuses(job_ids) == ["ready"] * 6
    for job in GenerationJob.objects.filter(pk__in=job_ids):
        assert job.suggestions.count() == 6, "one set of suggestions per job, no duplicates"
        assert sum(len(s.scenarios) for s in job.suggestions.all()) == 30
        assert job.attempts == (2 if job.pk in held else 1)
    assert [c.get("batch") for c in fake.calls].count(0) == 6, "no finished batch was asked again"


def test_a_storm_of_429s_is_ridden_out(cluster, fake):
    # Three 429s shared by two batches: whichever batch gets them, it is still inside its 4 attempts.
    fake.configure(faults=[{"fault": "429", "retry_delay": "0.05s", "times": 3}])
    job, _ = jobs.queue_generation(factories.make_story(), test_cases=6, scenarios_per_test=5)
    wait_until(lambda: all_finished([job.pk]), timeout=30, message="the job to finish")
    job.refresh_from_db()
    assert (job.status, job.warning) == ("ready", ""), job.error
    assert job.report["retries"] == 3
    assert len(fake.calls) == 5
    assert job.suggestions.count() == 6


def test_a_daily_quota_fails_the_job_at_once_with_a_clear_message(cluster, fake):
    fake.configure(faults=[{"fault": "quota_day", "times": -1}])
    job, _ = jobs.queue_generation(factories.make_story(), test_cases=2, scenarios_per_test=2)
    wait_until(lambda: all_finished([job.pk]), timeout=30, message="the job to finish")
    job.refresh_from_db()
    assert job.status == "failed"
    assert "daily quota exhausted" in job.error
    assert "test-key-not-secret" not in job.error
    assert job.attempts == 1
    assert len(fake.calls) == 1, "a per-day quota is not retried"


def test_a_running_job_can_be_cancelled_between_batches(cluster, fake):
    fake.configure(latency=1.0)
    job, _ = jobs.queue_generation(factories.make_story(), test_cases=10, scenarios_per_test=10)
    worker_pid(job.pk)
    assert jobs.cancel_job(job)
    time.sleep(2.5)  # long enough for every batch to have come back had the run not stopped
    job.refresh_from_db()
    assert job.status == "cancelled"
    assert not job.suggestions.exists()
    assert len(fake.calls) <= 10, "nothing was asked again after the cancel"


def test_with_the_redis_broker_a_task_lost_with_its_worker_is_rescued_by_the_reaper(tmp_path, fake):
    # Redis pops a task when a worker takes it: when that worker dies the task is gone from the broker for good.
    redis_env = {"REDIS_URL": "redis://127.0.0.1:6379/0", "QAFORGE_QUEUE_NAME": f"rescue{os.getpid()}"}
    fake.configure(faults=[{"fault": "hang", "batch": 0, "times": 1}], hang_seconds=30)
    factories.make_story(key="RED-1")
    with running_cluster(tmp_path, GEMINI_BASE_URL=fake.url, **CLUSTER_ENV, **redis_env):
        queued = manage("generate_tests", "RED-1", "--test-cases", "1", "--scenarios-per-test", "1", **redis_env)
        assert queued.returncode == 0, queued.stderr
        job = GenerationJob.objects.get(story__key="RED-1")
        os.kill(worker_pid(job.pk), signal.SIGKILL)
        time.sleep(STALE_SECONDS + 0.5)
        reap = manage(
            "shell",
            "-c",
            "from generation.jobs import reap_stale_jobs; print(reap_stale_jobs())",
            QAFORGE_JOB_STALE_SECONDS=str(STALE_SECONDS),
            **redis_env,
        )
        assert "'requeued': 1" in reap.stdout, reap.stderr
        wait_until(lambda: all_finished([job.pk]), timeout=30, message="the rescued job to finish")
    job.refresh_from_db()
    assert (job.status, job.attempts, job.suggestions.count()) == ("ready", 2, 1)
