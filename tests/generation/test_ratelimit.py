"""The cluster-wide limit on model calls: the rule, its three stores, the 429 pause, and the real cluster under it."""

from __future__ import annotations

import uuid

import pytest

from generation import jobs, ratelimit
from generation.engine import GenerationRequest, StorySnapshot, generate
from generation.models import GenerationJob
from generation.ratelimit import Exchange, Limits, decide
from tests import factories
from tests.cluster import running_cluster, wait_until
from tests.fake_gemini import start_fake_gemini

NOW = 1_000_000.0


# --- the rule ------------------------------------------------------------------------------------------------------


def test_requests_per_minute_grant_what_fits_and_say_when_the_oldest_call_leaves_the_window():
    limits = Limits(rpm=3, window=60)
    window = [(NOW - 50, 100), (NOW - 10, 100)]
    granted, retry = decide(NOW, window, busy=0, paused_until=0, wants=[100, 100, 100], limits=limits)
    assert granted == 1
    assert retry == pytest.approx(10 + ratelimit.MARGIN_SECONDS), "the call granted 50 s ago leaves in 10 s"


def test_tokens_per_minute_count_the_estimates_and_ask_again_soon_or_when_enough_tokens_leave():
    limits = Limits(tpm=1000, window=60)
    window = [(NOW - 40, 600), (NOW - 5, 300)]
    assert decide(NOW, window, 0, 0, [100], limits) == (1, 0.0)
    granted, retry = decide(NOW, window, 0, 0, [200], limits)
    assert granted == 0
    # The 600 leave in 20.5 s, but a finished call anywhere may report fewer tokens than estimated before that.
    assert retry == ratelimit.TPM_POLL_SECONDS
    leaving = [(NOW - 60.3, 600), (NOW - 5, 300)]
    assert decide(NOW, leaving, 0, 0, [200], limits)[1] == pytest.approx(0.2), "the 600 leave in 0.2 s"


def test_a_call_larger_than_the_whole_token_budget_still_goes_when_nothing_else_counts():
    assert decide(NOW, [], 0, 0, [5000], Limits(tpm=1000)) == (1, 0.0)


def test_concurrency_counts_calls_in_flight_and_asks_again_soon():
    granted, retry = decide(NOW, [], busy=2, paused_until=0, wants=[1, 1], limits=Limits(concurrency=3))
    assert (granted, retry) == (1, ratelimit.POLL_SECONDS)


def test_a_pause_from_a_429_grants_nothing_until_it_ends():
    assert decide(NOW, [], 0, NOW + 7, [1], Limits()) == (0, 7)
    assert decide(NOW, [], 0, NOW - 1, [1, 1], Limits()) == (2, 0.0)


# --- the stores: one behaviour -------------------------------------------------------------------------------------


@pytest.fixture(params=["memory", pytest.param("database", marks=pytest.mark.django_db(transaction=True)), "redis"])
def store(request):
    if request.param == "memory":
        yield ratelimit.MemoryStore()
        return
    if request.param == "database":
        yield ratelimit.DatabaseStore()
        return
    redis_store = ratelimit.RedisStore("redis://127.0.0.1:6379/0", f"qaforge-test:{uuid.uuid4().hex}")
    yield redis_store
    redis_store.client.delete(*redis_store.keys)


def ids(n):
    return [(uuid.uuid4().hex, 100) for _ in range(n)]


def test_a_store_grants_up_to_the_limit_then_again_once_the_window_has_moved_on(store):
    limits = Limits(rpm=3, window=10)
    assert store.exchange(Exchange(NOW, ids(2), []), limits) == (2, 0.0)
    granted, retry = store.exchange(Exchange(NOW + 1, ids(3), []), limits)
    assert granted == 1
    assert retry == pytest.approx(9 + ratelimit.MARGIN_SECONDS)
    assert store.exchange(Exchange(NOW + 10.6, ids(3), []), limits)[0] == 2, "the first two have left the window"


def test_a_store_corrects_the_estimate_with_the_real_token_count(store):
    limits = Limits(tpm=1000, window=10)
    first = [("a" * 32, 950)]
    assert store.exchange(Exchange(NOW, first, []), limits)[0] == 1
    assert store.exchange(Exchange(NOW + 1, ids(1), []), limits)[0] == 0, "950 estimated + 100 > 1000"
    assert store.exchange(Exchange(NOW + 2, ids(1), [("a" * 32, 300)]), limits)[0] == 1, "only 300 were used"


def test_a_store_held_back_by_tokens_per_minute_asks_again_soon(store):
    limits = Limits(tpm=1000, window=60)
    assert store.exchange(Exchange(NOW, [("c" * 32, 950)], []), limits)[0] == 1
    granted, retry = store.exchange(Exchange(NOW + 1, ids(1), []), limits)
    assert granted == 0
    assert retry == pytest.approx(ratelimit.TPM_POLL_SECONDS), "not the 59.5 s until the 950 leave the window"


def test_a_store_counts_a_call_from_when_its_request_left_once_it_ends(store):
    limits = Limits(rpm=1, window=10)
    late = [("b" * 32, 100)]
    assert store.exchange(Exchange(NOW, late, []), limits)[0] == 1
    store.exchange(Exchange(NOW + 2, [], [], sent=[("b" * 32, NOW + 2)]), limits)  # granted at NOW, sent at NOW + 2
    store.exchange(Exchange(NOW + 3, [], [("b" * 32, 100)]), limits)
    assert store.exchange(Exchange(NOW + 11, ids(1), []), limits)[0] == 0, "10 s after it left, not after its grant"
    assert store.exchange(Exchange(NOW + 12.6, ids(1), []), limits)[0] == 1


def test_a_store_frees_a_concurrency_slot_when_the_call_ends(store):
    limits = Limits(concurrency=2, window=10)
    running = ids(2)
    assert store.exchange(Exchange(NOW, running, []), limits)[0] == 2
    assert store.exchange(Exchange(NOW + 1, ids(1), []), limits)[0] == 0
    assert store.exchange(Exchange(NOW + 2, ids(2), running[:1]), limits)[0] == 1


def test_a_store_keeps_a_pause_for_every_caller(store):
    limits = Limits(window=10)
    assert store.exchange(Exchange(NOW, [], [], pause_until=NOW + 5), limits) == (0, 0.0)
    granted, retry = store.exchange(Exchange(NOW + 1, ids(1), []), limits)
    assert granted == 0 and retry == pytest.approx(4)
    assert store.exchange(Exchange(NOW + 5.1, ids(1), []), limits)[0] == 1


# --- a 429 slows every call, not just the one that got it -----------------------------------------------------------


def test_a_429_s_retry_delay_holds_back_every_call_of_the_process(fake_gemini, settings):
    settings.QAFORGE_LLM_CONCURRENCY = 1  # one call at a time, so the second batch's call waits behind the pause
    fake_gemini.configure(faults=[{"fault": "429", "retry_delay": "1s", "times": 1}])
    story = StorySnapshot(key="SHOP-1", title="Pay", acceptance_criteria=("Paying works",))
    result = generate(story, GenerationRequest(test_cases=6, scenarios_per_test=5))
    assert result.error is None
    calls = sorted(fake_gemini.calls, key=lambda c: c["start"])
    assert [c["status"] for c in calls] == [429, 200, 200]
    assert calls[1]["start"] - calls[0]["end"] >= 0.9, "no call started during the second Gemini asked for"


# --- the real cluster ----------------------------------------------------------------------------------------------

RATE, WINDOW = 4, 3.0


def starts_in_any_window(calls, window: float) -> int:
    starts = sorted(c["start"] for c in calls)
    return max(sum(1 for s in starts[i:] if s < start + window) for i, start in enumerate(starts))


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_cluster_wide_request_rate_is_never_exceeded_at_gemini(tmp_path):
    """Two worker processes, twelve one-call jobs, R requests per window: Gemini never sees more than R in any
    window (the store is the database, or Redis when REDIS_URL is set)."""
    fake = start_fake_gemini(latency=0.2)
    env = {
        "GEMINI_API_KEY": "test-key-not-secret",
        "GEMINI_BASE_URL": fake.url,
        "QAFORGE_WORKERS": "2",
        "QAFORGE_LLM_RPM": str(RATE),
        "QAFORGE_LLM_RATE_WINDOW_SECONDS": str(WINDOW),
    }
    project = factories.make_project(key="RATE")
    try:
        with running_cluster(tmp_path, **env):  # (its log is printed if an assertion fails inside)
            job_ids = [
                jobs.queue_generation(factories.make_story(project=project), test_cases=1, scenarios_per_test=1)[0].pk
                for _ in range(12)
            ]
            wait_until(
                lambda: set(GenerationJob.objects.filter(pk__in=job_ids).values_list("status", flat=True)) == {"ready"},
                timeout=60,
                message="12 jobs to finish",
            )
            calls = fake.calls
            assert len(calls) == 12
            first = min(c["start"] for c in calls)
            starts = sorted(round(c["start"] - first, 2) for c in calls)
            assert starts_in_any_window(calls, WINDOW) == RATE, f"the limit is used and never exceeded: {starts}"
    finally:
        fake.stop()
