"""Generation jobs: queue, reap, cancel, review and save — the one workflow every caller goes through.

The page, the JSON API, the `generate_tests` command and the admin all call these functions; how jobs run (many per
worker process, each under a lease) is `generation.runs`, reached from the django-q2 task in `generation.tasks`.
Job state lives in the database so any process can read it.

Durability rules (django-q2 delivers at least once, and the Redis broker loses a task whose worker dies):
- a run claims its job with a conditional UPDATE (a lease renewed by a heartbeat); a second delivery stops at once;
- every finished batch is checkpointed, so a re-run requests only the missing batches;
- suggestions are written in one transaction by the lease holder, after deleting any earlier ones;
- the reaper re-queues jobs whose heartbeat went stale or whose queue task vanished, up to a maximum of attempts.
"""

from __future__ import annotations

import functools
import logging
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from generation import engine, review
from generation.models import ACTIVE_STATUSES, GenerationJob, JobStatus, SuggestedTestCase
from generation.options import GenerationOptions, OptionsError
from stories import gherkin, history
from stories.models import Scenario, TestCase, UserStory

log = logging.getLogger("qaforge.jobs")

TASK_FUNC = "generation.tasks.run_generation_job"
QUEUE_UNREACHABLE = (
    "Could not reach the job queue. Try again in a moment; if it persists, ask an admin to check the worker."
)
WORKER_STOPPED = (
    "The worker stopped responding (tried {attempts} times). Try again, or ask an admin to check the worker."
)


class QueueError(Exception):
    """A request for generation that cannot be queued; `str()` is the message for a person, `status` an HTTP hint."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class JobStateError(QueueError):
    """The job is not in a state that allows the action (e.g. saving a job that is still running)."""

    def __init__(self, message: str):
        super().__init__(message, status=409)


@dataclass
class SuggestionErrors(Exception):
    """Reviewed suggestions that are not valid; nothing was saved. errors[suggestion_id][scenario_index] = problems
    (index -1: the test case itself), each message naming its field as the review page does."""

    errors: dict[int, dict[int, list[str]]] = field(default_factory=dict)

    def __str__(self) -> str:
        count = sum(len(problems) for s in self.errors.values() for problems in s.values())
        return f"{count} problem{'s' if count != 1 else ''} to fix before saving; nothing was saved."

    def lines(self) -> list[str]:
        """Each problem on a line for a person: "suggestion 12 · scenario 1 · Steps: …"."""
        return [
            " · ".join([f"suggestion {sid}", *([f"scenario {index + 1}"] if index >= 0 else []), message])
            for sid, by_index in self.errors.items()
            for index, problems in by_index.items()
            for message in problems
        ]


def _now():
    return timezone.now()


def _transition(job_id, message: str, **extra) -> None:
    details = " ".join(f"{k}={v}" for k, v in extra.items())
    log.info("job %s %s %s", job_id, message, details)


# --- Queueing ---------------------------------------------------------------------------------------------------


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


def queue_generation(
    story: UserStory | str,
    *,
    user=None,
    options: GenerationOptions | None = None,
    test_cases=None,
    scenarios_per_test=None,
    test_types=None,
    criteria=(),
    extends: GenerationJob | None = None,
    enqueue: bool = True,
) -> tuple[GenerationJob, bool]:
    """Validate, create the job and enqueue it once the transaction commits; return (job, created) at once.

    Options come validated (`options=GenerationOptions(...)`) or as raw keyword values (`test_cases=`,
    `scenarios_per_test=`, `test_types=`), validated here by the same schema; missing ones take its defaults.
    A story that already has a queued or running job gets that job back (created=False). With enqueue=False the
    caller runs the job itself (`generate_tests --inline`). `criteria` (AC numbers) narrows the job to those
    acceptance criteria; `extends` (a job ready to review) makes its suggestions join that job's review.
    """
    if isinstance(story, str):
        key = story
        story = UserStory.objects.select_related("project").filter(key=key).first()
        if story is None:
            raise QueueError(f"There is no story with the key {key!r}.", status=404)
    if story.project_id is None:
        raise QueueError("This story is not linked to a project. Link it to a project, then generate tests.")
    if options is None:
        try:
            options = GenerationOptions.parse(
                test_cases=test_cases, scenarios_per_test=scenarios_per_test, test_types=test_types
            )
        except OptionsError as error:
            raise QueueError(str(error)) from error
    try:
        criteria = tuple(sorted({int(n) for n in criteria or ()}))
    except (TypeError, ValueError) as error:
        raise QueueError("Acceptance criteria are named by their numbers (1 for AC-1).") from error
    request = engine.GenerationRequest(
        test_cases=options.test_cases,
        scenarios_per_test=options.scenarios_per_test,
        test_types=tuple(options.types),
        criteria=criteria,
    )
    problems = []
    unknown = sorted(set(request.criteria) - {n for n, _ in story.numbered_criteria})
    if unknown:
        problems.append(f"{story.key} has no acceptance criterion {', '.join(f'AC-{n}' for n in unknown)}.")
    if extends is not None and (extends.story_id != story.pk or extends.status != JobStatus.READY):
        problems.append("Only a job of this story that is ready to review can be extended.")
    if problems:
        raise QueueError(" ".join(problems))

    generator = engine.active_generator()
    created = False
    with transaction.atomic():
        # Serialise requests for one story so two quick clicks give one job (SQLite IMMEDIATE already does).
        list(UserStory.objects.select_for_update().filter(pk=story.pk).order_by().values_list("pk", flat=True))
        job = GenerationJob.objects.filter(story=story, status__in=ACTIVE_STATUSES).order_by("-queued_at").first()
        if job is None:
            job = GenerationJob.objects.create(
                story=story,
                requested_by=user if getattr(user, "is_authenticated", False) else None,
                test_cases=request.test_cases,
                scenarios_per_test=request.scenarios_per_test,
                test_types=list(request.test_types),
                criteria=list(request.criteria),
                extends=extends,
                generator=generator["generator"],
                model=generator["model"],
                phase="Waiting for a worker",
            )
            created = True
            if enqueue:
                # Raised from the commit, so the caller gets QueueError (and the job is failed, not stuck).
                transaction.on_commit(lambda: _enqueue_or_fail(job))
    if created:
        _transition(job.pk, "queued", story=story.key, generator=job.generator, scenarios=job.total_scenarios)
    return job, created


def requeue_job(job: GenerationJob) -> GenerationJob:
    """Send a failed, cancelled or stuck job back to the queue (admin action); finished batches are kept."""
    if job.status in (JobStatus.SAVED, JobStatus.DISCARDED):
        raise JobStateError("A saved or discarded job cannot be queued again; generate anew instead.")
    stale = _now() - timedelta(seconds=settings.QAFORGE_JOB_STALE_SECONDS)
    if job.status == JobStatus.RUNNING and job.heartbeat_at and job.heartbeat_at >= stale:
        raise JobStateError("This job is running on a live worker; cancel it first.")
    if GenerationJob.objects.filter(story_id=job.story_id, status__in=ACTIVE_STATUSES).exclude(pk=job.pk).exists():
        raise JobStateError("This story already has a queued or running job.")
    now = _now()
    GenerationJob.objects.filter(pk=job.pk).update(
        status=JobStatus.QUEUED,
        error="",
        run_token="",
        phase="Waiting for a worker",
        queued_at=now,
        finished_at=None,
        updated_at=now,
    )
    job.refresh_from_db()
    _enqueue_or_fail(job)
    _transition(job.pk, "re-queued", story=job.story.key)
    return job


def cancel_job(job: GenerationJob) -> bool:
    """Cancel a queued or running job; a running one stops after its current batch. False if it had already ended."""
    changed = _finish(job.pk, JobStatus.CANCELLED, only_if=ACTIVE_STATUSES, phase="Cancelled")
    if changed:
        _transition(job.pk, "cancelled")
    job.refresh_from_db()
    return bool(changed)


def discard_job(job: GenerationJob) -> bool:
    """Throw away a finished job's suggestions (the lead decided not to keep them)."""
    suggested = SuggestedTestCase.objects.filter(job_id=job.pk).count()
    outcome = _all_deleted(suggested) if suggested else {}  # for the generation report
    changed = _finish(
        job.pk,
        JobStatus.DISCARDED,
        only_if=(JobStatus.READY, JobStatus.FAILED, JobStatus.CANCELLED),
        review_outcome=outcome,
    )
    if changed:
        SuggestedTestCase.objects.filter(job_id=job.pk).delete()
        _transition(job.pk, "discarded")
    job.refresh_from_db()
    return bool(changed)


def _all_deleted(suggested: int) -> dict:
    return {"suggested": suggested, "unchanged": 0, "edited": 0, "deleted": suggested}


def _finish(job_id, status: str, *, only_if, error: str | None = None, phase: str | None = None, **fields) -> int:
    return _finish_many([job_id], status, only_if=only_if, error=error, phase=phase, **fields)


def _finish_many(job_ids, status: str, *, only_if=ACTIVE_STATUSES, error=None, phase=None, **fields) -> int:
    now = _now()
    values = {"status": status, "finished_at": now, "updated_at": now, **fields}
    if error is not None:
        values["error"] = error
    if phase is not None:
        values["phase"] = phase
    job_ids = list(job_ids)
    changed = GenerationJob.objects.filter(pk__in=job_ids, status__in=only_if).update(**values)
    if changed and status in (JobStatus.FAILED, JobStatus.CANCELLED):
        for job_id in GenerationJob.objects.filter(pk__in=job_ids, extends__isnull=False).values_list("pk", flat=True):
            back_to_review(job_id)
    return changed


def back_to_review(job_id) -> None:
    """An extension ("Generate for this criterion") that failed or was cancelled hands the story back to the review
    it extends, if that review is still open: the review becomes the story's latest job again (its badge, the review
    queue), with a warning saying what did not arrive and why. Without this the open review would hide behind the
    failed extension's badge."""
    with transaction.atomic():
        job = GenerationJob.objects.filter(pk=job_id, extends__isnull=False).first()
        parent = job and GenerationJob.objects.select_for_update().filter(pk=job.extends_id).first()
        if (
            parent is None
            or parent.status != JobStatus.READY
            or job.status not in (JobStatus.FAILED, JobStatus.CANCELLED)
        ):
            return
        what = ", ".join(f"AC-{n}" for n in job.criteria or []) or "the criteria"
        why = f"did not finish: {job.error}" if job.status == JobStatus.FAILED else "was cancelled."
        parent.warnings = [*(parent.warnings or []), f"Generating for {what} {why}"]
        # The latest job is the one queued last; the finish time is what the live stream announces.
        parent.queued_at = parent.finished_at = _now()
        parent.save(update_fields=["warnings", "queued_at", "finished_at", "updated_at"])


def latest_jobs_for(story_ids) -> dict[int, GenerationJob]:
    """The latest job of each story, in one query: {story_id: job}."""
    latest = GenerationJob.objects.filter(story=OuterRef("story")).order_by("-queued_at", "-pk").values("pk")[:1]
    jobs = GenerationJob.objects.filter(story_id__in=list(story_ids)).filter(pk=Subquery(latest))
    return {job.story_id: job for job in jobs}


def run_job(job_id) -> str:
    """Run one job here, in this thread, to its end (`generate_tests --inline`); see `generation.runs.run_job`."""
    from generation import runs  # runs builds on this module

    return runs.run_job(job_id)


# --- Reaping -------------------------------------------------------------------------------------------------------


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
    now = _now()
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
                _transition(job.pk, "failed", reason="worker stopped responding", attempts=job.attempts)
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
            queued_at=_now(),  # the "task vanished" clock restarts, so one job is not re-queued every pass
            updated_at=_now(),
        )
        if not reclaimed:
            continue
        try:
            _queue_task(job)
        except QueueError:
            continue  # the broker is down; the next reaper run tries again
        counts["requeued"] += 1
        _transition(job.pk, "re-queued by reaper", story=job.story.key, attempts=job.attempts)
    return counts


# --- Reviewing and saving ----------------------------------------------------------------------------------------


def _was_edited(suggestion: SuggestedTestCase, title, test_type, priority, scenarios) -> bool:
    def shape(items) -> list[tuple]:
        return [
            (item.name.strip(), gherkin.normalise_steps(item.steps), gherkin.clean_tags(item.tags)) for item in items
        ]

    original = [
        gherkin.ScenarioText(s.get("name", ""), s.get("steps", ""), s.get("tags", [])) for s in suggestion.scenarios
    ]
    before = (suggestion.title.strip(), suggestion.test_type, suggestion.priority, shape(original))
    return before != (title, test_type, priority, shape(scenarios))


def _checked(job: GenerationJob, suggestions: list[SuggestedTestCase], edits: list[dict]) -> list[tuple]:
    """The suggestions with the reviewer's `edits` applied, validated by the review's own formset
    (`generation.review.edits_formset`: the page, the API and the commands check the same rules with the same
    messages). Returns (suggestion, title, test_type, priority, [ScenarioText], [cited AC numbers per scenario]) of
    each one kept; raises SuggestionErrors."""
    known = {s.pk for s in suggestions}
    unknown = {int(e["id"]): {-1: [f"This job has no suggestion {e['id']}."]} for e in edits if e["id"] not in known}
    if unknown:
        raise SuggestionErrors(unknown)
    formset = review.edits_formset(job, edits, suggestions)
    if not formset.is_valid():
        raise SuggestionErrors(review.problems_by_suggestion(formset))
    plans = []
    for form, scenario_forms in formset.kept():
        data = form.cleaned_data
        scenarios = [
            gherkin.ScenarioText(f.cleaned_data["name"].strip(), f.instance.steps, f.instance.tags)
            for f in scenario_forms
        ]
        cites = [f.cleaned_data.get("criteria") or [] for f in scenario_forms]
        plans.append(
            (form.suggestion_obj, data["title"].strip(), data["test_type"], data["priority"], scenarios, cites)
        )
    return plans


def _edit_list(edits) -> list[dict]:
    """Edits as a list of dicts with an integer "id"; SuggestionErrors for anything else (a program's mistake)."""
    checked = []
    for edit in edits or []:
        try:
            checked.append({**edit, "id": int(edit["id"])})
        except (TypeError, KeyError, ValueError):
            raise SuggestionErrors({0: {-1: ['Each edit needs the "id" of a suggestion of this job.']}}) from None
    return checked


def edit_suggestion(job: GenerationJob, suggestion_id: int, edit: dict) -> SuggestedTestCase:
    """Change one suggestion of a job that is ready to review (title, test_type, priority, scenarios), checked as
    saving checks it; raises SuggestionErrors (changing nothing) or JobStateError."""
    with transaction.atomic():
        locked = GenerationJob.objects.select_for_update().get(pk=job.pk)
        if locked.status != JobStatus.READY:
            raise JobStateError(f"Only a job that is ready to review can be edited (this one is {locked.status}).")
        suggestion = locked.suggestions.get(pk=suggestion_id)
        ((_, title, test_type, priority, scenarios, cites),) = _checked(
            locked, [suggestion], [{**edit, "id": suggestion.pk, "delete": False}]
        )
        suggestion.title, suggestion.test_type, suggestion.priority = title, test_type, priority
        suggestion.scenarios = [
            {"name": s.name, "steps": s.steps, "tags": list(s.tags), "criteria": c}
            for s, c in zip(scenarios, cites, strict=True)
        ]
        suggestion.save()
        locked.save(update_fields=["updated_at"])  # the live badge and event stream see a change
    return suggestion


def delete_suggestion(job: GenerationJob, suggestion_id: int) -> None:
    """Remove one suggestion from a job that is ready to review; the last one cannot go (discard the job instead)."""
    with transaction.atomic():
        locked = GenerationJob.objects.select_for_update().get(pk=job.pk)
        if locked.status != JobStatus.READY:
            raise JobStateError(f"Only a job that is ready to review can be edited (this one is {locked.status}).")
        suggestion = locked.suggestions.get(pk=suggestion_id)
        if locked.suggestions.count() == 1:
            raise JobStateError("This is the job's last suggestion: discard the job instead.")
        suggestion.delete()
        locked.save(update_fields=["updated_at"])


def save_reviewed(job: GenerationJob, edits: list[dict], user=None) -> tuple[list[TestCase], GenerationJob | None]:
    """Save what the review dialog showed. Suggestions the dialog never showed (they joined the review after it was
    opened, from "Generate for this criterion") are neither saved nor lost: they move to a new job, ready to review.
    Returns (saved test cases, that new job or None)."""
    shown = {int(e["id"]) for e in edits}
    with transaction.atomic():
        locked = GenerationJob.objects.select_for_update().get(pk=job.pk)
        unseen = list(locked.suggestions.exclude(pk__in=shown).values_list("pk", flat=True))
        set_aside = None
        if unseen and locked.status == JobStatus.READY:
            set_aside = GenerationJob.objects.get(pk=locked.pk)
            set_aside.pk, set_aside.task_id, set_aside.review_outcome = uuid.uuid4(), "", {}
            set_aside.extends = None
            set_aside.warnings, set_aside.asked, set_aside.got = [], {}, {}
            set_aside.phase = "Ready to review (joined an earlier review after it was opened)"
            set_aside.queued_at = _now()
            set_aside.save(force_insert=True)
            SuggestedTestCase.objects.filter(pk__in=unseen).update(job=set_aside)
        saved = save_suggestions(job, edits, user=user)
    return saved, set_aside


def save_suggestions(job: GenerationJob, edits: list[dict] | None = None, user=None) -> list[TestCase]:
    """Turn the reviewed suggestions into test cases of the story, in one transaction, and mark the job saved.

    `edits` (optional) is a list of {"id": suggestion id, "delete": bool, "title", "test_type", "priority",
    "scenarios": [{"name", "steps", "tags", "delete"}]}; suggestions not mentioned are saved as suggested.
    Every path (the review page, the API, `review_jobs`, `generate_tests`) validates through the review's formset
    (`_checked`); SuggestionErrors (saving nothing) lists every problem, as the review page does. Calling it again on a
    saved job creates nothing and returns the test cases saved the first time. Keeping nothing is a discard: the
    job is marked discarded (never "saved with 0 test cases") and [] is returned.
    """
    edits = _edit_list(edits)
    with transaction.atomic():
        locked = GenerationJob.objects.select_for_update().get(pk=job.pk)
        if locked.status == JobStatus.SAVED:
            return list(locked.saved_test_cases.all())
        if locked.status != JobStatus.READY:
            raise JobStateError(f"Only a job that is ready to review can be saved (this one is {locked.status}).")
        suggestions = list(locked.suggestions.all())
        plans = _checked(locked, suggestions, edits)
        if not plans:
            _finish(
                locked.pk,
                JobStatus.DISCARDED,
                only_if=(JobStatus.READY,),
                phase="Discarded: nothing was kept",
                review_outcome=_all_deleted(len(suggestions)),
            )
            SuggestedTestCase.objects.filter(job_id=locked.pk).delete()
            _transition(job.pk, "discarded", reason="saved with nothing kept")
            job.refresh_from_db()
            return []
        saved = []
        saver = user if getattr(user, "is_authenticated", False) else None
        edited = 0
        # History: every test case and scenario saved here is recorded as the reviewer's, linked to the job.
        with history.recorded_as(saver, f"saved from review of job {locked.pk}"):
            for suggestion, title, test_type, priority, scenarios, cites in plans:
                review = "edited" if _was_edited(suggestion, title, test_type, priority, scenarios) else "unchanged"
                edited += review == "edited"
                test_case = TestCase.objects.create(
                    story_id=locked.story_id,
                    title=title,
                    objective=suggestion.objective,
                    preconditions=suggestion.preconditions,
                    test_type=test_type,
                    priority=priority,
                    author=saver,
                    source_job=locked,
                    generator=locked.generator,
                    model_name=locked.model,
                    model_version=locked.model_version,
                    prompt_version=locked.prompt_version,
                    story_revision=locked.story_revision,
                    token_usage=locked.token_usage,
                    requested_by_id=locked.requested_by_id,
                    generated_at=locked.finished_at,
                    review=review,
                )
                # Validated above; bulk_create skips Scenario.save's second validation (and its coverage signal).
                rows = Scenario.objects.bulk_create(
                    Scenario(test_case=test_case, position=i, name=s.name, steps=s.steps, tags=s.tags, criteria=c)
                    for i, (s, c) in enumerate(zip(scenarios, cites, strict=True))
                )
                history.record_bulk(Scenario, rows, update=False)
                saved.append(test_case)
        locked.story.refresh_coverage()
        suggested = len(suggestions)
        locked.review_outcome = {
            "suggested": suggested,
            "unchanged": len(saved) - edited,
            "edited": edited,
            "deleted": suggested - len(saved),
        }
        locked.status = JobStatus.SAVED
        locked.saved_by, locked.saved_at = saver, _now()
        locked.phase = f"Saved {len(saved)} test case{'s' if len(saved) != 1 else ''}"
        locked.save(update_fields=["status", "phase", "saved_by", "saved_at", "review_outcome"])
    _transition(job.pk, "saved", test_cases=len(saved))
    job.refresh_from_db()
    return saved
