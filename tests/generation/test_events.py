"""The live-updates stream through the real ASGI app: session authentication, initial badges, pushed changes,
one shared watcher, disconnects; and once end to end under a real daphne process."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from generation import events
from generation.models import GenerationJob, JobStatus
from qaforge.asgi import application
from stories import permissions
from tests import factories
from tests.services import running_daphne
from tests.sse import Stream, in_thread, log_out, session_key

# The stream reads the database from other threads: tests that need it to see their rows commit them.
committed = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_watcher():
    yield
    events.watcher.close_connection()


async def ticked(baseline: int):
    """Wait until the watcher has read the database since `baseline` (its tick count before): what ends after
    that is news to it. A tick is counted when it starts and ticks run one after another, so the tick that started
    after `baseline` has finished its reads once the next one has started."""
    while events.watcher.ticks <= baseline + 1:
        await asyncio.sleep(0.05)


def write_progress(job, **fields):
    fields = {"status": JobStatus.RUNNING, "progress": 40, "phase": "Batch 2 of 3", **fields}
    GenerationJob.objects.filter(pk=job.pk).update(updated_at=timezone.now(), **fields)


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def lead_session(user):
    return session_key(user)


async def get(path: str, session: str | None = None) -> httpx.Response:
    cookies = {"sessionid": session} if session else None
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", cookies=cookies) as c:
        return await c.get(path)


# --- Who may open a stream -----------------------------------------------------------------------------------


def test_anonymous_request_is_refused(story):
    response = asyncio.run(get(f"/events/stories?ids={story.pk}"))
    assert response.status_code == 401
    assert "text/event-stream" not in response.headers["content-type"]


def test_forged_session_is_refused(story):
    response = asyncio.run(get(f"/events/stories?ids={story.pk}", session="forged0session0key0that0is0long"))
    assert response.status_code == 401


@committed
def test_session_is_refused_after_the_password_changed(user, story):
    session = session_key(user)
    user.set_password("a-new-password-42")
    user.save()
    response = asyncio.run(get(f"/events/stories?ids={story.pk}", session=session))
    assert response.status_code == 401


@committed
def test_session_of_a_deactivated_user_is_refused(user, story):
    session = session_key(user)
    user.is_active = False
    user.save()
    assert asyncio.run(get(f"/events/stories?ids={story.pk}", session=session)).status_code == 401


@committed
def test_bad_story_ids_are_refused(lead_session):
    for ids in ["1,two", "-3", "1;2", ",".join(str(i) for i in range(1, 202))]:
        response = asyncio.run(get(f"/events/stories?ids={ids}", session=lead_session))
        assert response.status_code == 400, ids


def test_parse_story_ids_dedupes_and_skips_blanks():
    assert events.parse_story_ids(" 3, 1,,3 ") == [3, 1]
    assert events.parse_story_ids("") == []


def test_visible_story_ids_drops_unknown_stories(user, story):
    assert events.visible_story_ids(user, [story.pk, story.pk + 1000]) == [story.pk]


@committed
def test_stats_are_for_staff_only(lead_session):
    assert asyncio.run(get("/events/_stats", session=lead_session)).status_code == 403
    admin = factories.make_user("ops", is_staff=True)
    response = asyncio.run(get("/events/_stats", session=session_key(admin)))
    assert response.status_code == 200
    assert {"streams", "ticks", "queries"} <= response.json().keys()


def test_django_pages_still_served_through_the_router(db):
    response = asyncio.run(get("/login/"))
    assert response.status_code == 200
    assert "<form" in response.text


def test_router_answers_lifespan_for_servers_that_send_it():
    async def scenario():
        inbox: asyncio.Queue = asyncio.Queue()
        inbox.put_nowait({"type": "lifespan.startup"})
        inbox.put_nowait({"type": "lifespan.shutdown"})
        sent = []

        async def send(message):
            sent.append(message["type"])

        await asyncio.wait_for(application({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send), 5)
        return sent

    assert asyncio.run(scenario()) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


# --- What a stream carries -----------------------------------------------------------------------------------


@committed
def test_stream_sends_active_badges_first_then_pushes_progress(lead_session, project):
    running = factories.make_story(project=project, key="SHOP-1")
    idle = factories.make_story(project=project, key="SHOP-2")
    long_done = factories.make_story(project=project, key="SHOP-3")
    job = GenerationJob.objects.create(story=running, status=JobStatus.RUNNING, progress=10, phase="Batch 1 of 3")
    old = timezone.now() - timedelta(hours=2)
    done = GenerationJob.objects.create(story=long_done, status=JobStatus.READY, queued_at=old)
    GenerationJob.objects.filter(pk=done.pk).update(updated_at=old)  # save() stamps now

    async def scenario():
        stream = await Stream(f"/events/stories?ids={running.pk},{idle.pk},{long_done.pk}", lead_session).open()
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        first = await stream.next_event()
        assert first[0] == f"story-{running.pk}"
        assert "Generating 10%" in first[1]

        await in_thread(write_progress, job)
        before, pushed = await stream.event_containing("Generating 40%")
        # Neither the idle story nor the long-finished one is sent (the running one may be sent twice).
        assert {name for name, _ in before} <= {f"story-{running.pk}"}
        assert pushed[0] == f"story-{running.pk}"
        assert "Batch 2 of 3" in pushed[1]
        assert pushed[1].startswith(f'<span id="story-{running.pk}-badge"')

        await in_thread(write_progress, job, status=JobStatus.READY, progress=100, finished_at=timezone.now())
        _, ready = await stream.event_containing("Ready to review")
        assert ready[0] == f"story-{running.pk}"
        _, toast = await stream.event_containing("SHOP-1 ready")
        assert toast[0] == "job-finished"
        assert f"/generation/jobs/{job.pk}/review" in toast[1]
        await stream.close()

    asyncio.run(scenario())


@committed
def test_failed_job_pushes_badge_and_toast_with_reason(lead_session, story):
    job = GenerationJob.objects.create(story=story, status=JobStatus.RUNNING, progress=50)

    async def scenario():
        # The failure is written once the watcher has read the running job: a job that ended before the watcher
        # first looked is a page load's news, not a toast.
        baseline = events.watcher.ticks
        stream = await Stream(f"/events/stories?ids={story.pk}", lead_session).open()
        await stream.event_containing("Generating 50%")
        await ticked(baseline)
        await in_thread(write_progress, job, status=JobStatus.FAILED, error="Quota <exceeded>")
        _, badge = await stream.event_containing("Failed")
        assert "Quota &lt;exceeded&gt;" in badge[1]
        _, toast = await stream.event_containing("failed:")
        assert toast == ("job-finished", toast[1])
        assert "Generation for SHOP-12 failed: Quota &lt;exceeded&gt;" in toast[1]
        await stream.close()

    asyncio.run(scenario())


@committed
def test_jobs_ending_one_after_another_coalesce_into_one_ready_toast(lead_session, story):
    other = factories.make_story(project=story.project, key="SHOP-13")
    first = GenerationJob.objects.create(story=story, status=JobStatus.RUNNING, progress=50)
    second = GenerationJob.objects.create(story=other, status=JobStatus.RUNNING, progress=50)

    async def scenario():
        baseline = events.watcher.ticks
        stream = await Stream(f"/events/stories?ids={story.pk},{other.pk}", lead_session).open()
        await ticked(baseline)
        await in_thread(write_progress, first, status=JobStatus.READY, progress=100, finished_at=timezone.now())
        _, toast = await stream.event_containing("SHOP-12 ready to review")
        assert toast[0] == "job-finished" and 'data-toast-key="jobs-ready"' in toast[1]
        await in_thread(write_progress, second, status=JobStatus.READY, progress=100, finished_at=timezone.now())
        _, toast = await stream.event_containing("2 stories ready to review")
        # the same key: the page replaces the first toast with this one; Review opens the first that ended
        assert 'data-toast-key="jobs-ready"' in toast[1]
        assert f"/generation/jobs/{first.pk}/review" in toast[1]
        await stream.close()

    asyncio.run(scenario())


@committed
def test_a_job_that_ended_before_the_page_opened_is_not_announced_again(lead_session, story):
    GenerationJob.objects.create(story=story, status=JobStatus.READY, progress=100, finished_at=timezone.now())
    sentinel = GenerationJob.objects.create(
        story=factories.make_story(project=story.project, key="SHOP-13"), status=JobStatus.RUNNING, progress=10
    )

    async def scenario():
        # A fresh watcher (as after a quiet spell, or on a new page load) re-reads the last seconds of changes.
        baseline = events.watcher.ticks
        stream = await Stream(f"/events/stories?ids={story.pk},{sentinel.story_id}", lead_session).open()
        await ticked(baseline)
        await in_thread(write_progress, sentinel, progress=60)
        before, _ = await stream.event_containing("Generating 60%")
        assert [name for name, _ in before if name == "job-finished"] == []
        await stream.close()

    asyncio.run(scenario())


@committed
def test_saved_job_shows_the_new_test_case_count(lead_session, story):
    job = GenerationJob.objects.create(story=story, status=JobStatus.READY)

    def save():
        factories.make_test_case(story, source_job=job)
        factories.make_test_case(story, source_job=job)
        write_progress(job, status=JobStatus.SAVED)

    async def scenario():
        stream = await Stream(f"/events/stories?ids={story.pk}", lead_session).open()
        await stream.event_containing("Ready to review")
        await in_thread(save)
        await stream.event_containing("2 test cases")
        await stream.close()

    asyncio.run(scenario())


@committed
def test_stream_only_carries_its_own_stories(lead_session, project):
    mine = factories.make_story(project=project)
    other = factories.make_story(project=project)
    other_job = GenerationJob.objects.create(story=other, status=JobStatus.QUEUED)
    my_job = GenerationJob.objects.create(story=mine, status=JobStatus.QUEUED)

    async def scenario():
        stream = await Stream(f"/events/stories?ids={mine.pk}", lead_session).open()
        await stream.event_containing("Queued")
        await in_thread(write_progress, other_job, progress=70)
        await in_thread(write_progress, my_job, progress=30)
        before, _ = await stream.event_containing("Generating 30%")
        assert not any(f"story-{other.pk}" == name for name, _ in before)
        await stream.close()

    asyncio.run(scenario())


@committed
def test_two_streams_share_one_watcher_query_per_tick(user, story):
    job = GenerationJob.objects.create(story=story, status=JobStatus.QUEUED)
    first_session, second_session = session_key(user), session_key(user)

    async def scenario():
        streams = [
            await Stream(f"/events/stories?ids={story.pk}", first_session).open(),
            await Stream(f"/events/stories?ids={story.pk}", second_session).open(),
        ]
        for stream in streams:
            await stream.event_containing("Queued")
        while (await events.watcher.astats())["ticks"] < 2:  # past the start-up tick
            await asyncio.sleep(0.05)
        before = await events.watcher.astats()
        await in_thread(write_progress, job, progress=60)
        for stream in streams:
            await stream.event_containing("Generating 60%")
        after = await events.watcher.astats()
        ticks = after["ticks"] - before["ticks"]
        assert ticks >= 1
        assert after["queries"] - before["queries"] == ticks  # one query per tick, not one per stream
        assert after["badges_rendered"] - before["badges_rendered"] == 1  # rendered once, sent twice
        assert after["events_queued"] - before["events_queued"] == 2
        assert after["streams"] == 2
        for stream in streams:
            await stream.close()

    asyncio.run(scenario())


@committed
def test_stream_ends_when_the_client_disconnects(lead_session, story):
    GenerationJob.objects.create(story=story, status=JobStatus.QUEUED)

    async def scenario():
        stream = await Stream(f"/events/stories?ids={story.pk}", lead_session).open()
        await stream.event_containing("Queued")
        assert events.watcher.stats()["streams"] == 1
        await stream.close()  # raises TimeoutError if the response does not end within 5 s
        assert stream.task.done()
        assert events.watcher.stats()["streams"] == 0

    asyncio.run(scenario())


def test_watcher_stops_when_no_stream_is_left(db):
    watcher = events.Watcher(interval=0.02, idle_seconds=0.1)

    async def scenario():
        subscription = watcher.subscribe([1])
        assert watcher.stats()["running"]
        watcher.unsubscribe(subscription)
        for _ in range(200):
            if not watcher.stats()["running"]:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("the watcher kept polling with no stream open")

    try:
        asyncio.run(scenario())
    finally:
        watcher.close_connection()


# --- End to end under daphne ---------------------------------------------------------------------------------


# --- Streams end with their session --------------------------------------------------------------------------


def logged_out(user, story, session):
    log_out(session)


def deactivate(user, story, session):
    user.is_active = False
    user.save()


def change_password(user, story, session):
    user.set_password("a-brand-new-password-7")
    user.save()


def lose_access(user, story, session):
    permissions.revoke(user, story.project)


@committed
@pytest.mark.parametrize(
    "end_it",
    [logged_out, deactivate, change_password, lose_access],
    ids=["logout", "deactivated", "password-changed", "access-lost"],
)
def test_an_open_stream_ends_soon_after_its_session_or_access_ends(settings, user, story, end_it):
    settings.QAFORGE_SSE_SESSION_CHECK_SECONDS = 0.3
    job = GenerationJob.objects.create(story=story, status=JobStatus.QUEUED)
    session = session_key(user)

    async def scenario():
        stream = await Stream(f"/events/stories?ids={story.pk}", session).open()
        await stream.event_containing("Queued")
        await in_thread(write_progress, job, progress=20)
        await stream.event_containing("Generating 20%")  # alive and well before
        await in_thread(end_it, user, story, session)
        # The response ends by itself (the client never went away) within a few check intervals.
        await asyncio.wait_for(stream.task, 10)
        assert events.watcher.stats()["streams"] == 0
        stream.gone.set()

    asyncio.run(scenario())


@pytest.fixture
def daphne_server():
    with running_daphne(QAFORGE_SSE_SESSION_CHECK_SECONDS="1") as url:
        yield url


def read_event(lines, containing: str) -> tuple[str, str]:
    name = ""
    for line in lines:
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: ") and containing in line:
            return name, line
    raise AssertionError(f"stream ended before an event containing {containing!r}")


@pytest.mark.slow
@committed
def test_live_updates_under_daphne(daphne_server, user, story):
    job = GenerationJob.objects.create(story=story, status=JobStatus.QUEUED)
    session = session_key(user)
    staff = session_key(factories.make_user("ops", is_staff=True))
    anonymous = httpx.Client(base_url=daphne_server, timeout=10)
    lead = httpx.Client(base_url=daphne_server, timeout=10, cookies={"sessionid": session})
    ops = httpx.Client(base_url=daphne_server, timeout=10, cookies={"sessionid": staff})
    with anonymous, lead, ops:
        login = anonymous.get("/login/")
        assert login.status_code == 200  # Django, through the router
        assert "<form" in login.text
        assert anonymous.get(f"/events/stories?ids={story.pk}").status_code == 401

        with lead.stream("GET", f"/events/stories?ids={story.pk}") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.iter_lines()
            assert read_event(lines, "Queued")[0] == f"story-{story.pk}"
            write_progress(job)
            assert read_event(lines, "Generating 40%")[0] == f"story-{story.pk}"
            assert ops.get("/events/_stats").json()["streams"] == 1

        # The client went away: the server's stream ends (its subscription is gone).
        deadline = time.monotonic() + 10
        while ops.get("/events/_stats").json()["streams"] != 0:
            assert time.monotonic() < deadline, "the stream outlived its client"
            time.sleep(0.1)


@pytest.mark.slow
@committed
def test_logging_out_ends_an_open_stream_under_daphne(daphne_server, user, story):
    job = GenerationJob.objects.create(story=story, status=JobStatus.QUEUED)
    session = session_key(user)
    with httpx.Client(base_url=daphne_server, timeout=10, cookies={"sessionid": session}) as lead:
        with lead.stream("GET", f"/events/stories?ids={story.pk}") as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            read_event(lines, "Queued")
            log_out(session)
            write_progress(job, progress=70)  # a change after the logout
            after = list(lines)  # ends by itself: a read timeout (10 s) here would fail the test
        # Whatever reached the client after the logout came before the check fell due (at most one interval);
        # the stream then ended and nothing was sent after the end.
        assert all("event: job-finished" not in line for line in after)
        assert lead.get(f"/events/stories?ids={story.pk}").status_code == 401  # and it cannot come back
