"""Queueing a whole selection reaches the broker in one round trip, so a frozen Redis costs one bounded wait."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from generation.models import GenerationJob, JobStatus
from tests import factories
from tests.generation.test_views import HTMX, toasts


@pytest.mark.django_db(transaction=True)  # the enqueue runs on commit, inside the request, as in production
def test_a_frozen_redis_holds_a_bulk_request_once_not_once_per_story(client_logged_in, project, frozen_broker):
    keys = [factories.make_story(project=project, key=f"SHOP-{n}").key for n in range(1, 7)]
    started = time.monotonic()
    response = client_logged_in.post(reverse("generation:queue"), {"stories": keys, "test_types": "UI"}, headers=HTMX)
    elapsed = time.monotonic() - started
    assert len(frozen_broker.connections) == 1, "one round trip for the six stories"
    assert elapsed < 6 * 0.5, "waited once for the broker, not once per story"
    [toast] = toasts(response)
    assert toast["level"] == "error"
    assert toast["message"] == "6 stories could not be queued:"
    assert all("Could not reach the job queue" in detail for detail in toast["details"])
    assert set(GenerationJob.objects.values_list("status", flat=True)) == {JobStatus.FAILED}


@pytest.mark.django_db(transaction=True)
def test_a_bulk_request_queues_every_story_with_one_push(client_logged_in, project, monkeypatch):
    from django_q.brokers import get_broker

    pushes = []
    broker = get_broker()
    if hasattr(broker.connection, "rpush"):  # Redis: every task in one RPUSH
        original = type(broker.connection).rpush
        monkeypatch.setattr(
            type(broker.connection),
            "rpush",
            lambda self, key, *packs: pushes.append(packs) or original(self, key, *packs),
        )
    keys = [factories.make_story(project=project, key=f"SHOP-{n}").key for n in range(1, 5)]
    response = client_logged_in.post(reverse("generation:queue"), {"stories": keys, "test_types": "UI"}, headers=HTMX)
    assert toasts(response)[0]["message"] == "Generating tests for 4 stories"
    jobs = list(GenerationJob.objects.all())
    assert {job.status for job in jobs} == {JobStatus.QUEUED}
    assert all(job.task_id for job in jobs), "every job knows its task"
    if pushes:
        assert [len(p) for p in pushes] == [4]
