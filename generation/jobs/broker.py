"""How jobs reach the broker: one job's task, or many in one round trip (`enqueue_together`), bounded in time;
a job whose task cannot be sent is failed with QUEUE_UNREACHABLE rather than left queued."""

from __future__ import annotations

import functools
import threading
from contextlib import contextmanager

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from generation.jobs.errors import QUEUE_UNREACHABLE, QueueError
from generation.jobs.state import _finish, _finish_many, log
from generation.models import ACTIVE_STATUSES, GenerationJob, JobStatus

TASK_FUNC = "generation.tasks.run_generation_job"


def _queue_task(job: GenerationJob) -> str:
    """Put the job's task on the broker; any failure to reach the broker becomes QueueError."""
    _queue_tasks([job])
    return job.task_id


def _queue_tasks(to_send: list[GenerationJob]) -> None:
    """Put the jobs' tasks on the broker in one round trip (one RPUSH for Redis), bounded by
    QAFORGE_QUEUE_TIMEOUT_SECONDS however many there are; any failure to reach the broker becomes QueueError."""
    from django_q import tasks as q_tasks

    if not to_send:
        return
    try:
        broker = q_tasks.get_broker()
        collected = _Collected(broker.list_key)
        ids = [
            # save=False: a task that succeeded is not written to django-q2's results (a failed one still is). The
            # job's own row says how it went; with save_limit > 0 the monitor reads every kept result under a lock
            # for each result it saves (about a tenth of a sprint's CPU under py-spy, bench/throughput.py).
            q_tasks.async_task(
                TASK_FUNC,
                str(job.pk),
                task_name=f"generate {job.story.key} {str(job.pk)[:8]}",
                broker=collected,
                save=False,
            )
            for job in to_send
        ]
        collected.send_to(broker)
    except Exception as error:  # redis.ConnectionError / TimeoutError, OperationalError, …: the broker is not there
        log.warning("%d job(s) could not be queued: %s", len(to_send), error.__class__.__name__)
        raise QueueError(QUEUE_UNREACHABLE, status=503) from error
    for job, task_id in zip(to_send, ids, strict=True):
        job.task_id = task_id or ""
    # One statement for all of them: on SQLite every write waits its turn for the one write lock.
    GenerationJob.objects.bulk_update(to_send, ["task_id"], batch_size=500)


class _Collected:
    """Stands in for django-q2's broker while its async_task signs the tasks, so they can be sent together."""

    def __init__(self, list_key: str):
        self.list_key = list_key
        self.packs: list = []

    def enqueue(self, pack) -> None:
        self.packs.append(pack)

    def send_to(self, broker) -> None:
        from django_q.brokers.redis_broker import Redis

        if isinstance(broker, Redis):
            _bounded_redis(broker.connection).rpush(self.list_key, *self.packs)
        else:  # the ORM broker: rows in our own database, one INSERT (as its enqueue() writes them, one by one)
            from django_q.models import OrmQ

            now = timezone.now()
            key = self.list_key or settings.Q_CLUSTER["name"]
            broker.get_connection().bulk_create(
                [OrmQ(key=key, payload=pack, lock=now) for pack in self.packs], batch_size=500
            )


def _bounded_redis(connection):
    """The broker's Redis with a bounded wait and no retries (redis-py's defaults: 5 s, retried), so a frozen Redis
    holds a request QAFORGE_QUEUE_TIMEOUT_SECONDS once."""
    return _bounded_pool(connection.connection_pool, settings.QAFORGE_QUEUE_TIMEOUT_SECONDS)


@functools.lru_cache(maxsize=8)
def _bounded_pool(pool, timeout: float):
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    kwargs = {**pool.connection_kwargs, "socket_timeout": timeout, "socket_connect_timeout": timeout}
    kwargs["retry"] = Retry(NoBackoff(), 0)
    return redis.Redis(connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs))


_sending = threading.local()


class EnqueueBatch:
    def __init__(self) -> None:
        self.jobs: list[GenerationJob] = []
        self.failed: list[GenerationJob] = []


@contextmanager
def enqueue_together():
    """Jobs queued inside this block are written in one transaction and reach the broker together when it ends, in
    one round trip: a frozen Redis costs a bulk request QAFORGE_QUEUE_TIMEOUT_SECONDS once, not once per story, and
    on SQLite a 100-story selection takes the write lock a few times, not 300 (measured with a running cluster
    writing too: 6-8 s for 100 stories). `batch.failed` then lists the jobs that could not be sent (they are failed
    with QUEUE_UNREACHABLE, as a single job is). The page, the API's bulk generate and the Jira webhook use it."""
    batch = EnqueueBatch()
    outer, _sending.batch = getattr(_sending, "batch", None), batch
    try:
        with transaction.atomic():
            yield batch
    finally:
        _sending.batch = outer
    # Inside a caller's own transaction the jobs are not committed yet (nor collected: their on_commit waits too):
    # each is then sent when that transaction commits, as a single job is.
    try:
        _queue_tasks(batch.jobs)
    except QueueError:
        _finish_many([job.pk for job in batch.jobs], JobStatus.FAILED, error=QUEUE_UNREACHABLE, phase="Failed")
        batch.failed = list(batch.jobs)


def _enqueue_or_fail(job: GenerationJob) -> None:
    batch = getattr(_sending, "batch", None)
    if batch is not None:
        batch.jobs.append(job)
        return
    try:
        _queue_task(job)
    except QueueError:
        _finish(job.pk, JobStatus.FAILED, error=QUEUE_UNREACHABLE, only_if=ACTIVE_STATUSES, phase="Failed")
        raise
