"""Graceful stop: SIGTERM to qcluster hands every running job back to the queue at once, checkpoints kept.

Its own module: a cluster left running by another test module would take the handed-back jobs itself (every cluster
that shares the database claims queued jobs), which is right in production and wrong for this test.
"""

from __future__ import annotations

import signal

import pytest

from generation import jobs
from generation.models import BatchCheckpoint, GenerationJob
from tests import factories
from tests.cluster import running_cluster, wait_until
from tests.fake_gemini import start_fake_gemini
from tests.generation.test_cluster import CLUSTER_ENV, all_finished, statuses

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def fake():
    server = start_fake_gemini()
    yield server
    server.stop()


def test_sigterm_hands_every_running_job_back_to_the_queue_at_once(tmp_path, fake):
    # Batch 0 answers, the first batch-1 call of each job hangs for 30 s: SIGTERM arrives with three jobs mid-way.
    fake.configure(faults=[{"fault": "hang", "batch": 1, "times": 3}], hang_seconds=30)
    project = factories.make_project(key="TERM")
    job_ids = [
        jobs.queue_generation(factories.make_story(project=project), test_cases=6, scenarios_per_test=5)[0].pk
        for _ in range(3)
    ]
    # A stale timeout far beyond the test: only the hand-back can bring the jobs back.
    env = {**CLUSTER_ENV, "QAFORGE_JOB_STALE_SECONDS": "300", "QAFORGE_WORKERS": "2"}
    (tmp_path / "first").mkdir()
    with running_cluster(tmp_path / "first", GEMINI_BASE_URL=fake.url, **env) as first:
        wait_until(lambda: BatchCheckpoint.objects.filter(job_id__in=job_ids).count() == 3, message="three checkpoints")
        first.process.send_signal(signal.SIGTERM)  # to qcluster itself, as systemd or `make run`'s Ctrl-C would
        wait_until(lambda: statuses(job_ids) == ["queued"] * 3, timeout=10, message="the jobs to be handed back")
        first.process.wait(timeout=20)  # the cluster exits without waiting for the hung calls
        assert not first.worker_pids(), "no worker is left behind"
    for job in GenerationJob.objects.filter(pk__in=job_ids):
        assert (job.attempts, job.phase) == (0, "Waiting for a worker (handed back by a stopping worker)")
        assert job.checkpoints.count() == 1, "the finished batch is kept"

    (tmp_path / "second").mkdir()
    with running_cluster(tmp_path / "second", GEMINI_BASE_URL=fake.url, **env):
        wait_until(lambda: all_finished(job_ids), timeout=30, message="the jobs to finish after the restart")
    assert statuses(job_ids) == ["ready"] * 3
    assert [c.get("batch") for c in fake.calls].count(0) == 3, "the kept batches were not asked again"
    assert all(j.suggestions.count() == 6 for j in GenerationJob.objects.filter(pk__in=job_ids))
