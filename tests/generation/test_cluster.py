"""Jobs on the real django-q2 cluster (a `qcluster` subprocess) against the test database.

The broker is whatever the settings choose: the ORM broker by default, Redis when REDIS_URL is set (CI runs both).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from generation import jobs
from generation.models import GenerationJob, JobStatus
from tests import factories
from tests.cluster import running_cluster, wait_until
from tests.services import ROOT, django_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


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


def test_ten_jobs_queued_together_all_reach_ready(tmp_path):
    project = factories.make_project(key="TEN")
    stories = [factories.make_story(project=project) for _ in range(10)]
    job_ids = [jobs.queue_generation(s, test_cases=2, scenarios_per_test=2)[0].pk for s in stories]
    with running_cluster(tmp_path):
        wait_until(lambda: all_finished(job_ids), timeout=60, message="10 jobs to finish")
    assert statuses(job_ids) == ["ready"] * 10
    for job in GenerationJob.objects.filter(pk__in=job_ids):
        assert job.suggestions.count() == 2
        assert job.attempts == 1


def test_two_requests_for_the_same_story_run_one_job(tmp_path):
    story = factories.make_story()
    first, _ = jobs.queue_generation(story, test_cases=1, scenarios_per_test=1)
    second, created = jobs.queue_generation(story, test_cases=1, scenarios_per_test=1)
    assert not created and first.pk == second.pk
    with running_cluster(tmp_path):
        wait_until(lambda: all_finished([first.pk]), message="the job to finish")
    assert GenerationJob.objects.filter(story=story).count() == 1
    assert GenerationJob.objects.get(pk=first.pk).suggestions.count() == 1


def test_a_job_cancelled_while_queued_never_runs(tmp_path):
    story = factories.make_story()
    job, _ = jobs.queue_generation(story)
    jobs.cancel_job(job)
    other, _ = jobs.queue_generation(factories.make_story(), test_cases=1, scenarios_per_test=1)
    with running_cluster(tmp_path):
        wait_until(lambda: all_finished([other.pk]), message="the other job to finish")
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("cancelled", 0)
    assert not job.suggestions.exists()


def test_generate_tests_waits_and_exits_zero_when_every_job_is_ready(tmp_path):
    project = factories.make_project(key="CMD")
    factories.make_story(project=project, key="CMD-1")
    factories.make_story(project=project, key="CMD-2")
    with running_cluster(tmp_path):
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
