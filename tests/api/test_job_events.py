"""`GET /api/jobs/<id>/events`: typed JSON events with ids, replay after Last-Event-ID, token or session auth.

In-process through the ASGI application for finished jobs (the stream closes after the final event), and once end
to end: a real HTTP client against daphne while a real qcluster runs the job on the fake Gemini server."""

from __future__ import annotations

import asyncio
import json
import threading
from contextlib import asynccontextmanager
from datetime import timedelta
from types import SimpleNamespace

import httpx
import pytest
from django.utils import timezone

from api.models import ApiToken
from generation import events
from generation.job_events import job_events
from generation.models import BatchCheckpoint, GenerationJob, JobStatus
from qaforge.asgi import application
from stories import permissions
from stories.models import Role
from tests import factories
from tests.cluster import module_cluster
from tests.fake_gemini import start_fake_gemini
from tests.services import running_daphne
from tests.sse import Stream, in_thread, log_out, session_key

committed = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_watcher():
    yield
    events.watcher.close_connection()


def parse(text: str) -> list[tuple[str, str, dict]]:
    """(id, event, data) of every event in an SSE body (comments and pings skipped)."""
    found = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line and not line.startswith(":"))
        if "data" in fields:
            found.append((fields.get("id", ""), fields.get("event", "message"), json.loads(fields["data"])))
    return found


def get(path: str, token: str | None = None, last_id: str | None = None) -> httpx.Response:
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if last_id:
        headers["Last-Event-ID"] = last_id

    async def fetch():
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await asyncio.wait_for(client.get(path, headers=headers), 20)

    return asyncio.run(fetch())


def finished_job(story, batches=3, status=JobStatus.READY, **fields) -> GenerationJob:
    now = timezone.now()
    job = GenerationJob.objects.create(
        story=story,
        status=status,
        started_at=now,
        finished_at=now,
        attempts=1,
        generator="gemini",
        model="gemini-2.5-flash",
        batches_total=batches,
        report={"test_cases": 4, "scenarios": 12, "dropped_invalid": 1, "duplicates_removed": 2, "batches_total": 3},
        **fields,
    )
    for index in range(batches):
        suggestion = {"title": "t", "scenarios": [{"name": "s", "steps": "Given a\nThen b"}] * 4}
        BatchCheckpoint.objects.create(job=job, index=index, result={"index": index, "suggestions": [suggestion]})
        BatchCheckpoint.objects.filter(job=job, index=index).update(created_at=now + timedelta(seconds=index))
    return job


@pytest.fixture
def token(user):
    return ApiToken.objects.issue(user, "events")[1]


def test_the_events_of_a_job_follow_from_its_row_and_checkpoints(story):
    job = finished_job(story)
    kinds = [(n, kind) for n, kind, _ in job_events(job, list(job.checkpoints.values("index", "created_at", "result")))]
    assert kinds == [
        (1, "job_queued"),
        (2, "job_started"),
        (3, "batch_completed"),
        (4, "batch_completed"),
        (5, "batch_completed"),
        (6, "job_ready"),
    ]
    queued_only = GenerationJob.objects.create(story=story)
    assert [kind for _, kind, _ in job_events(queued_only, [])] == ["job_queued"]
    cancelled = GenerationJob.objects.create(story=story, status=JobStatus.CANCELLED)
    assert [kind for _, kind, _ in job_events(cancelled, [])] == ["job_queued", "job_cancelled"]


@committed
def test_a_finished_job_streams_its_events_in_order_and_closes(story, token):
    job = finished_job(story)
    response = get(f"/api/jobs/{job.pk}/events", token)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    received = parse(response.text)
    assert [(i, kind) for i, kind, _ in received] == [
        ("1", "job_queued"),
        ("2", "job_started"),
        ("3", "batch_completed"),
        ("4", "batch_completed"),
        ("5", "batch_completed"),
        ("6", "job_ready"),
    ]
    assert [d["batch"] for _, k, d in received if k == "batch_completed"] == [1, 2, 3]
    assert [d["scenarios"] for _, k, d in received if k == "batch_completed"] == [4, 8, 12]
    summary = received[-1][2]["summary"]
    assert summary == {
        "test_cases": 4,
        "scenarios": 12,
        "dropped_invalid": 1,
        "duplicates_removed": 2,
        "warnings": [],
        "seconds": None,
        "generator": "gemini",
        "model": "gemini-2.5-flash",
    }


@committed
def test_last_event_id_replays_only_what_was_missed(story, token):
    job = finished_job(story)
    replay = parse(get(f"/api/jobs/{job.pk}/events", token, last_id="4").text)
    assert [(i, kind) for i, kind, _ in replay] == [("5", "batch_completed"), ("6", "job_ready")]
    assert parse(get(f"/api/jobs/{job.pk}/events", token, last_id="6").text) == []  # had it all: closes at once


@committed
def test_several_jobs_share_one_stream_with_a_position_per_job(story, project, token):
    failed = GenerationJob.objects.create(story=story, status=JobStatus.FAILED, error="Quota exhausted.")
    other = factories.make_story(project=project, key="SHOP-13")
    ready = finished_job(other, batches=1)
    received = parse(get(f"/api/jobs/events?ids={failed.pk},{ready.pk}", token).text)
    assert received[-1][0] == "2.4"  # failed: queued + failed; ready: queued, started, 1 batch, ready
    assert {"job_failed", "job_ready"} <= {kind for _, kind, _ in received}
    assert next(d for _, k, d in received if k == "job_failed")["reason"] == "Quota exhausted."
    resumed = parse(get(f"/api/jobs/events?ids={failed.pk},{ready.pk}", token, last_id="2.2").text)
    assert [kind for _, kind, _ in resumed] == ["batch_completed", "job_ready"]


@committed
def test_bad_tokens_strangers_and_malformed_ids_get_json_errors(story, user, token):
    job = finished_job(story)
    assert get(f"/api/jobs/{job.pk}/events").json()["code"] == "not_authenticated"
    assert get(f"/api/jobs/{job.pk}/events", "qaf_nope").json()["code"] == "token_invalid"
    ApiToken.objects.filter(user=user).update(revoked_at=timezone.now())
    assert get(f"/api/jobs/{job.pk}/events", token).status_code == 401

    stranger = factories.make_user("stranger")
    permissions.grant(stranger, factories.make_project(key="BANK"), Role.EDITOR)
    theirs = ApiToken.objects.issue(stranger, "x")[1]
    response = get(f"/api/jobs/{job.pk}/events", theirs)
    assert (response.status_code, response.json()["code"]) == (404, "job_not_found")
    assert get("/api/jobs/not-a-uuid/events", theirs).json()["code"] == "invalid_input"


@committed
def test_the_session_works_too(story, user):
    job = finished_job(story, batches=0, status=JobStatus.CANCELLED)
    cookies = {"sessionid": session_key(user)}

    async def fetch():
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", cookies=cookies) as client:
            return await client.get(f"/api/jobs/{job.pk}/events")

    received = parse(asyncio.run(fetch()).text)
    assert [kind for _, kind, _ in received][-1] == "job_cancelled"


# --- An open stream ends with its token, session or access ------------------------------------------------------


@asynccontextmanager
async def watcher_held():
    """Hold the live-updates watcher (its one database thread) for the block: what is written meanwhile reaches no
    stream until the block ends. A stream re-checks its access only every QAFORGE_SSE_SESSION_CHECK_SECONDS, so a
    change the watcher read between a revocation and the next check would still go out (as on the pages); held,
    the watcher hands over what the test writes after the revocation only once that check has had its say."""
    held, release = threading.Event(), threading.Event()

    def hold():
        held.set()
        release.wait(30)

    events.watcher._executor.submit(hold)  # behind a tick under way, if any
    await asyncio.to_thread(held.wait, 10)
    try:
        yield
    finally:
        release.set()


def finish_batch(job, index: int, **fields) -> None:
    """A worker finishing batch `index` of `job` (a checkpoint and a write to the job row)."""
    suggestion = {"title": "t", "scenarios": [{"name": "s", "steps": "Given a\nThen b"}] * 2}
    BatchCheckpoint.objects.create(job=job, index=index, result={"index": index, "suggestions": [suggestion]})
    GenerationJob.objects.filter(pk=job.pk).update(updated_at=timezone.now(), **fields)


def revoke_token(caller):
    ApiToken.objects.get(user=caller.user).revoke()


def expire_token(caller):  # its expiry time comes
    ApiToken.objects.filter(user=caller.user).update(expires_at=timezone.now())


def deactivate_user(caller):
    caller.user.is_active = False
    caller.user.save()


def lose_access(caller):
    permissions.revoke(caller.user, caller.story.project)


def log_out_session(caller):
    log_out(caller.session)


@committed
@pytest.mark.parametrize(
    ("auth", "end_it"),
    [
        ("token", revoke_token),
        ("token", expire_token),
        ("token", deactivate_user),
        ("token", lose_access),
        ("session", log_out_session),
    ],
    ids=["token-revoked", "token-expired", "user-deactivated", "access-lost", "session-logged-out"],
)
def test_an_open_stream_ends_once_its_token_session_or_access_ends_and_sends_nothing_more(
    settings, user, story, token, auth, end_it
):
    settings.QAFORGE_SSE_SESSION_CHECK_SECONDS = 0.2
    now = timezone.now()
    job = GenerationJob.objects.create(
        story=story, status=JobStatus.RUNNING, started_at=now, attempts=1, generator="gemini", batches_total=2
    )
    caller = SimpleNamespace(user=user, story=story, session=session_key(user))
    if auth == "token":
        credentials = {"headers": {"Authorization": f"Bearer {token}"}}
    else:
        credentials = {"session_key": caller.session}

    async def scenario():
        stream = await Stream(f"/api/jobs/{job.pk}/events", **credentials).open()
        assert stream.status == 200
        assert [name for name, _ in [await stream.next_event(), await stream.next_event()]] == [
            "job_queued",
            "job_started",
        ]
        await asyncio.sleep(0.6)  # a few checks pass: a good token or session keeps its stream
        await in_thread(finish_batch, job, 0)
        name, data = await stream.next_event()
        assert (name, json.loads(data)["batch"]) == ("batch_completed", 1)

        async with watcher_held():
            await in_thread(end_it, caller)
            # Written after the token, session or access ended: the rest of the job.
            await in_thread(finish_batch, job, 1, status=JobStatus.READY, finished_at=timezone.now())
            # The response ends by itself (the client never went away) within a check or two.
            await asyncio.wait_for(stream.task, 10)
        assert events.watcher.stats()["job_streams"] == 0
        sent_after = stream.buffer
        while not stream.chunks.empty():
            sent_after += stream.chunks.get_nowait().decode()
        assert "data:" not in sent_after  # not the second batch, not job_ready: nothing after the first batch
        stream.gone.set()

    asyncio.run(scenario())


# --- End to end: daphne, a real qcluster, the fake Gemini server ----------------------------------------------


@pytest.fixture(scope="module")
def fake():
    server = start_fake_gemini(latency=0.4)
    yield server
    server.stop()


# One model call at a time and small batches, so the job's batches finish one after another.
cluster = module_cluster(
    GEMINI_API_KEY="test-key-not-secret", QAFORGE_LLM_CONCURRENCY="1", QAFORGE_BATCH_SIZE="3", QAFORGE_WORKERS="2"
)


@pytest.fixture
def daphne(fake):
    with running_daphne(
        GEMINI_API_KEY="test-key-not-secret", GEMINI_BASE_URL=fake.url, QAFORGE_SSE_POLL_SECONDS="0.1"
    ) as url:
        yield url


def read_stream(client: httpx.Client, url: str, last_id: str | None = None, stop_after: str | None = None):
    """Events of one connection, until the server closes it (or after the first `stop_after` event)."""
    headers = {"Last-Event-ID": last_id} if last_id else {}
    received = []
    with client.stream("GET", url, headers=headers, timeout=60) as response:
        assert response.status_code == 200
        block = []
        for line in response.iter_lines():
            if line:
                block.append(line)
                continue
            received += parse("\n".join(block))
            block = []
            if stop_after and received and received[-1][1] == stop_after:
                break
    return received


@pytest.mark.slow
@committed
def test_a_pipeline_follows_a_real_job_live_and_resumes_after_a_dropped_connection(daphne, cluster, fake, story, token):
    fake.reset()
    client = httpx.Client(base_url=daphne, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    with client:
        queued = client.post(f"/api/stories/{story.key}/generate", json={"test_cases": 4, "scenarios_per_test": 3})
        assert queued.status_code == 202, queued.text
        url = queued.json()["events_url"]

        first = read_stream(client, url, stop_after="batch_completed")  # the pipeline's connection drops here
        rest = read_stream(client, url, last_id=first[-1][0])
        everything = read_stream(client, url)  # after the end: the whole story again, then closed

    job = GenerationJob.objects.get()
    assert job.status == JobStatus.READY
    assert first + rest == everything  # nothing lost, nothing twice
    kinds = [kind for _, kind, _ in everything]
    assert kinds[:2] == ["job_queued", "job_started"]
    assert kinds[-1] == "job_ready"
    assert kinds[2:-1] == ["batch_completed"] * job.batches_total and job.batches_total == 4
    ids = [int(i) for i, _, _ in everything]
    assert ids == sorted(ids) == list(range(1, len(ids) + 1))
    assert [d["progress"] for _, k, d in everything if k == "batch_completed"] == [25, 50, 75, 99]
    summary = everything[-1][2]["summary"]
    assert (summary["test_cases"], summary["scenarios"]) == (job.suggestions.count(), job.report["scenarios"])
    assert summary["generator"] == "gemini"
