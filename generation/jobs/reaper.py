"""Which jobs lost their worker or their queue task: the reaper re-queues them, and fails them after the maximum
number of attempts. Runs every minute on a django-q2 schedule (`generation.tasks.reap_stale_jobs`)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q

from generation import jobs
from generation.jobs.broker import _queue_task
from generation.jobs.errors import WORKER_STOPPED, QueueError
from generation.jobs.state import _finish, log
from generation.models import GenerationJob, JobStatus


def _tasks_in_broker() -> set[str] | None:
    """Ids of the tasks waiting in (or, for the ORM broker, held by) the broker; None if the broker can't be read."""
    from django_q.brokers import get_broker
    from django_q.conf import Conf
    from django_q.models import OrmQ
    from django_q.signing import SignedPackage

    try:
        broker = get_broker()
        if Conf.ORM:
            return {q.task_id() for q in OrmQ.objects.using(Conf.ORM).filter(key=broker.list_key)}
        payloads = broker.connection.lrange(broker.list_key, 0, -1)
        ids = set()
        for payload in payloads:
            try:
                ids.add(SignedPackage.loads(payload)["id"])
            except Exception:  # a payload we cannot read is not ours to judge
                continue
        return ids
    except Exception as error:
        log.warning("reaper could not read the queue: %s", error.__class__.__name__)
        return None


def reap_stale_jobs() -> dict[str, int]:
    """Re-queue jobs whose worker died (stale heartbeat) or whose queue task vanished; fail them after the
    maximum number of attempts. Runs every minute on a django-q2 schedule."""
    stale_seconds = settings.QAFORGE_JOB_STALE_SECONDS
    now = jobs._now()
    stale = now - timedelta(seconds=stale_seconds)
    counts = {"requeued": 0, "failed": 0}
    candidates = list(
        GenerationJob.objects.filter(
            Q(status=JobStatus.RUNNING, heartbeat_at__lt=stale)
            | Q(status=JobStatus.RUNNING, heartbeat_at__isnull=True, started_at__lt=stale)
            | Q(status=JobStatus.QUEUED, queued_at__lt=stale)
        ).select_related("story")
    )
    queued = [job for job in candidates if job.status == JobStatus.QUEUED]
    in_broker = _tasks_in_broker() if queued else set()
    for job in candidates:
        if job.status == JobStatus.QUEUED and (in_broker is None or job.task_id in in_broker):
            continue  # still waiting its turn (or we cannot tell): leave it
        if job.attempts >= settings.QAFORGE_JOB_MAX_ATTEMPTS:
            if _finish(
                job.pk,
                JobStatus.FAILED,
                only_if=[job.status],
                error=WORKER_STOPPED.format(attempts=job.attempts),
                phase="Failed",
                run_token="",
            ):
                counts["failed"] += 1
                jobs._transition(job.pk, "failed", reason="worker stopped responding", attempts=job.attempts)
            continue
        # Back to queued under a condition, so a run that just renewed its heartbeat is not disturbed.
        reclaimed = GenerationJob.objects.filter(
            Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True) | Q(status=JobStatus.QUEUED),
            pk=job.pk,
            status=job.status,
        ).update(
            status=JobStatus.QUEUED,
            run_token="",
            phase="Waiting for a worker (retrying)",
            queued_at=jobs._now(),  # the "task vanished" clock restarts, so one job is not re-queued every pass
            updated_at=jobs._now(),
        )
        if not reclaimed:
            continue
        try:
            _queue_task(job)
        except QueueError:
            continue  # the broker is down; the next reaper run tries again
        counts["requeued"] += 1
        jobs._transition(job.pk, "re-queued by reaper", story=job.story.key, attempts=job.attempts)
    return counts
