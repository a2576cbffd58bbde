"""The engine through the real google-genai SDK against the fake Gemini server: parallel batches and every fault."""

import json
import logging
import threading

import pytest

from generation.engine import (
    LIMITER,
    Cancelled,
    EngineError,
    GenerationRequest,
    active_generator,
    generate,
)
from stories.gherkin import ScenarioText, scenario_problems
from tests.factories import cart_snapshot
from tests.fake_gemini import max_overlap

STORY = cart_snapshot(criteria=2)
NINE_BY_FIVE = GenerationRequest(test_cases=9, scenarios_per_test=5)  # 45 scenarios, 3 batches of 15


def all_valid(result) -> bool:
    return all(
        scenario_problems(ScenarioText(s.name, s.steps, s.tags)) == []
        for suggestion in result.suggestions
        for s in suggestion.scenarios
    )


def calls_for(fake, batch):
    return [c for c in fake.calls if c["batch"] == batch]


def test_three_batches_come_back_as_valid_test_cases_in_plan_order(fake_gemini):
    progress = []
    result = generate(STORY, NINE_BY_FIVE, on_batch_done=lambda b, done, total: progress.append((b.index, done, total)))

    assert result.error is None and result.warning is None
    assert [s.case_number for s in result.suggestions] == list(range(1, 10))
    assert all(len(s.scenarios) == 5 for s in result.suggestions)
    assert all_valid(result)
    assert sorted(p[0] for p in progress) == [0, 1, 2]
    assert [p[1:] for p in progress] == [(1, 3), (2, 3), (3, 3)]
    assert result.report["generator"] == "gemini" and result.report["model"] == "gemini-2.5-flash"
    assert result.report["attempts"] == 3 and result.report["retries"] == 0
    calls = fake_gemini.calls
    assert {c["path"] for c in calls} == {"/v1/models/gemini-2.5-flash:generateContent"}
    assert all(c["had_key"] and c["json_mode"] for c in calls)
    assert sorted(c["cases"] for c in calls) == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]


def test_all_batches_of_a_story_are_in_flight_together(fake_gemini):
    fake_gemini.configure(latency=0.4)
    result = generate(STORY, NINE_BY_FIVE)

    assert result.error is None
    assert max_overlap(fake_gemini.calls) == 3
    assert fake_gemini.max_in_flight == 3


def test_a_429_waits_the_retry_delay_it_was_given_then_succeeds(fake_gemini):
    fake_gemini.configure(faults=[{"fault": "429", "retry_delay": "0.3s", "batch": 0}])
    result = generate(STORY, NINE_BY_FIVE)

    assert result.error is None and len(result.suggestions) == 9
    first, second = calls_for(fake_gemini, 0)
    assert first["status"] == 429 and second["status"] == 200
    assert second["start"] - first["end"] >= 0.3  # RetryInfo honoured, not the tiny test backoff
    assert result.report["retries"] == 1
    assert result.report["batches"][0]["attempts"] == 2


def test_a_per_day_quota_fails_at_once(fake_gemini):
    fake_gemini.configure(faults=[{"fault": "quota_day", "times": -1}])
    result = generate(STORY, NINE_BY_FIVE)

    assert "daily quota exhausted" in result.error
    assert "all 3 batches failed" in result.error
    assert len(fake_gemini.calls) == 3  # one call per batch, no retries
    assert result.suggestions == [] and result.batches_failed == 3


def test_a_server_error_backs_off_and_retries(fake_gemini):
    fake_gemini.configure(faults=[{"fault": "500", "batch": 1, "times": 2}])
    result = generate(STORY, NINE_BY_FIVE)

    assert result.error is None
    assert [c["status"] for c in calls_for(fake_gemini, 1)] == [500, 500, 200]
    assert result.report["batches"][1]["retries"] == 2


def test_server_errors_stop_after_the_attempt_limit(fake_gemini, settings):
    settings.QAFORGE_LLM_MAX_ATTEMPTS = 3
    fake_gemini.configure(faults=[{"fault": "503", "times": -1}])
    result = generate(STORY, GenerationRequest(3, 2))

    assert result.error == "Gemini server error (HTTP 503 UNAVAILABLE) after 3 attempts"
    assert len(fake_gemini.calls) == 3


def test_a_hung_call_times_out_and_is_retried(fake_gemini, settings):
    settings.QAFORGE_LLM_TIMEOUT_SECONDS = 0.3
    fake_gemini.configure(faults=[{"fault": "hang", "hang_seconds": 5, "batch": 0}])
    result = generate(STORY, GenerationRequest(3, 2))

    assert result.error is None and len(result.suggestions) == 3
    assert result.report["retries"] == 1


def test_a_call_that_keeps_hanging_fails_with_a_clear_reason(fake_gemini, settings):
    settings.QAFORGE_LLM_TIMEOUT_SECONDS = 0.2
    settings.QAFORGE_LLM_MAX_ATTEMPTS = 2
    fake_gemini.configure(faults=[{"fault": "hang", "hang_seconds": 5, "times": -1}])
    result = generate(STORY, GenerationRequest(3, 2))

    assert result.error == "Gemini did not answer within 0.2 s after 2 attempts"


def test_a_dropped_connection_is_retried(fake_gemini):
    fake_gemini.configure(faults=[{"fault": "disconnect", "batch": 0}])
    result = generate(STORY, GenerationRequest(3, 2))

    assert result.error is None, result.error
    assert result.report["retries"] == 1


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("malformed", "Gemini's answer was not valid JSON"),
        ("off_schema", "Gemini's answer did not match the expected test case format"),
        ("safety", "Gemini stopped for safety reasons (finish reason SAFETY)"),
        ("empty", "Gemini returned an empty answer"),
    ],
)
def test_an_unusable_answer_is_retried_once_then_fails_the_batch(fake_gemini, fault, reason):
    fake_gemini.configure(faults=[{"fault": fault, "batch": 0}])
    assert generate(STORY, GenerationRequest(3, 2)).report["retries"] == 1

    fake_gemini.reset()
    fake_gemini.configure(faults=[{"fault": fault, "times": -1}])
    result = generate(STORY, GenerationRequest(3, 2))
    assert result.error.startswith(reason)
    assert result.error.endswith("after 2 attempts")
    assert len(fake_gemini.calls) == 2


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("401", "Gemini rejected the API key (HTTP 401 UNAUTHENTICATED); check GEMINI_API_KEY."),
        ("403", "Gemini rejected the API key (HTTP 403 PERMISSION_DENIED); check GEMINI_API_KEY."),
        ("bad_key", "Gemini rejected the API key (HTTP 400 INVALID_ARGUMENT); check GEMINI_API_KEY."),
        ("404", "Gemini model 'gemini-2.5-flash' not found (HTTP 404 NOT_FOUND); check GEMINI_MODEL."),
    ],
)
def test_key_and_model_problems_fail_at_once_with_a_clear_message(fake_gemini, fault, message):
    fake_gemini.configure(faults=[{"fault": fault, "times": -1}])
    result = generate(STORY, GenerationRequest(3, 2))

    assert result.error == message
    assert len(fake_gemini.calls) == 1


def test_the_api_key_never_appears_in_messages_reports_or_logs(fake_gemini, monkeypatch, caplog):
    key = "AIzaSyTOTALLY-SECRET-test-key-0123456789"
    monkeypatch.setenv("GEMINI_API_KEY", key)
    fake_gemini.configure(
        faults=[
            {"fault": "400", "message": f"Bad request from key {key}", "batch": 0},
            {"fault": "500", "batch": 1},
        ]
    )
    with caplog.at_level(logging.DEBUG):
        result = generate(STORY, NINE_BY_FIVE)

    assert result.warning.startswith("1 of 3 batches failed: Gemini rejected the request (HTTP 400 INVALID_ARGUMENT)")
    assert "[redacted]" in result.warning
    everything = result.warning + json.dumps(result.report) + caplog.text
    assert key not in everything and "TOTALLY-SECRET" not in everything
    assert "story SHOP-12 batch 1: attempt 1 failed" in caplog.text


def test_duplicate_scenarios_are_removed_and_counted(fake_gemini):
    fake_gemini.configure(faults=[{"fault": "duplicate", "times": -1}])
    result = generate(STORY, GenerationRequest(3, 3))

    assert [len(s.scenarios) for s in result.suggestions] == [1]
    assert result.report["duplicates_removed"] == 8


def test_invalid_gherkin_is_dropped_counted_and_asked_for_again(fake_gemini):
    fake_gemini.configure(faults=[{"fault": "invalid_gherkin"}])
    result = generate(STORY, GenerationRequest(3, 3))

    assert result.error is None and result.warnings == []
    assert [len(s.scenarios) for s in result.suggestions] == [3, 3, 3]
    assert result.report["dropped_invalid"] == 3
    assert result.report["dropped_reasons"] == {"no Then step": 3}
    assert [c["followup"] for c in fake_gemini.calls] == [False, True]
    assert all_valid(result)


def test_one_failed_batch_leaves_the_others_usable(fake_gemini):
    fake_gemini.configure(faults=[{"fault": "quota_day", "batch": 2}])
    result = generate(STORY, NINE_BY_FIVE)

    assert result.error is None
    assert result.warning.startswith("1 of 3 batches failed: Gemini daily quota exhausted")
    assert [s.case_number for s in result.suggestions] == [1, 2, 3, 4, 5, 6]
    assert result.batches_failed == 1


def test_a_resumed_run_only_calls_for_the_missing_batches(fake_gemini):
    first = {}
    generate(STORY, NINE_BY_FIVE, on_batch_done=lambda b, done, total: first.setdefault(b.index, b))
    fake_gemini.reset()

    progress = []
    checkpoint = {0: first[0], 2: first[2]}
    result = generate(STORY, NINE_BY_FIVE, done=checkpoint, on_batch_done=lambda b, d, t: progress.append((b.index, d)))

    assert [c["batch"] for c in fake_gemini.calls] == [1]
    assert progress == [(1, 3)]
    assert [s.case_number for s in result.suggestions] == list(range(1, 10))
    assert result.report["batches_reused"] == 2 and result.report["attempts"] == 1


def test_a_failed_checkpoint_is_run_again(fake_gemini):
    fake_gemini.configure(faults=[{"fault": "401", "batch": 1}])
    first = {}
    generate(STORY, NINE_BY_FIVE, on_batch_done=lambda b, done, total: first.setdefault(b.index, b))
    assert first[1].error
    fake_gemini.reset()

    result = generate(STORY, NINE_BY_FIVE, done=first)
    assert [c["batch"] for c in fake_gemini.calls] == [1]
    assert result.warning is None and len(result.suggestions) == 9


def test_cancelling_stops_the_batches_still_running(fake_gemini):
    fake_gemini.configure(
        faults=[{"fault": "hang", "hang_seconds": 30, "batch": 1}, {"fault": "hang", "hang_seconds": 30, "batch": 2}]
    )
    finished = []
    with pytest.raises(Cancelled):
        generate(
            STORY,
            NINE_BY_FIVE,
            on_batch_done=lambda b, done, total: finished.append(b.index),
            should_cancel=lambda: bool(finished),
        )
    assert finished == [0]
    assert LIMITER.in_flight == 0


def test_the_call_limit_holds_across_threads(fake_gemini, settings):
    settings.QAFORGE_LLM_CONCURRENCY = 2
    fake_gemini.configure(latency=0.15)
    story = cart_snapshot(criteria=2, key="LIMIT-1")  # its own key: the fake's log may hold a late call of another
    results = []
    threads = [threading.Thread(target=lambda: results.append(generate(story, NINE_BY_FIVE))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [r.error for r in results] == [None, None, None]
    ours = [c for c in fake_gemini.calls if c["story"] == "LIMIT-1"]
    assert len(ours) == 9
    assert max_overlap(ours) == 2
    assert LIMITER.max_in_flight == 2 and LIMITER.in_flight == 0


def test_which_generator_runs(monkeypatch, settings):
    settings.GEMINI_MODEL = "gemini-2.5-flash"
    monkeypatch.setenv("GEMINI_API_KEY", "")
    assert active_generator() == {"generator": "offline", "model": "", "label": "Offline generator"}
    monkeypatch.setenv("GEMINI_API_KEY", "test-key-not-secret")
    assert active_generator() == {
        "generator": "gemini",
        "model": "gemini-2.5-flash",
        "label": "Gemini (gemini-2.5-flash)",
    }
    settings.QAFORGE_GENERATOR = "offline"
    assert active_generator()["generator"] == "offline"


def test_gemini_without_a_key_is_a_clear_error(monkeypatch, settings):
    monkeypatch.setenv("GEMINI_API_KEY", "")
    settings.QAFORGE_GENERATOR = "gemini"
    with pytest.raises(EngineError, match="GEMINI_API_KEY is not set"):
        generate(STORY, GenerationRequest())
    with pytest.raises(EngineError, match="Ask for between 1 and 10 test cases"):
        generate(STORY, GenerationRequest(test_cases=11), generator="offline")
