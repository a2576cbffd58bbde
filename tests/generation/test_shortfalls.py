"""No silent shortfalls: a short answer is asked for once more, and what is still missing becomes a warning."""

import pytest

from generation.engine import GenerationRequest, generate
from tests.factories import cart_snapshot

STORY = cart_snapshot(criteria=2)
FIVE_BY_THREE = GenerationRequest(test_cases=5, scenarios_per_test=3)  # 15 scenarios: one batch
NINE_BY_FIVE = GenerationRequest(test_cases=9, scenarios_per_test=5)  # 45 scenarios: three batches


def followups(fake):
    return [c for c in fake.calls if c["followup"]]


def test_a_left_out_test_case_is_asked_for_once_more_and_comes_back(fake_gemini):
    fake_gemini.configure(faults=[{"fault": "leave_out"}])
    result = generate(STORY, FIVE_BY_THREE)

    assert len(fake_gemini.calls) == 2
    assert followups(fake_gemini)[0]["cases"] == [5]  # only the missing case is asked for
    assert [s.case_number for s in result.suggestions] == [1, 2, 3, 4, 5]
    assert result.warnings == [] and result.got == {"test_cases": 5, "scenarios": 15}
    assert result.report["reasked"] == 1


def test_a_test_case_still_missing_after_the_follow_up_is_a_warning(fake_gemini):
    fake_gemini.configure(faults=[{"fault": "leave_out", "times": 2}])
    result = generate(STORY, FIVE_BY_THREE)

    assert len(fake_gemini.calls) == 2  # asked once more, not more
    assert result.asked == {"test_cases": 5, "scenarios": 15}
    assert result.got == {"test_cases": 4, "scenarios": 12}
    assert result.warnings == ["Gemini returned 4 of the 5 test cases asked (12 of 15 scenarios)."]
    assert result.report["warnings"] == result.warnings


def test_too_few_scenarios_are_topped_up_without_repeating_the_first_answer(fake_gemini):
    fake_gemini.configure(faults=[{"fault": "too_few"}])
    result = generate(STORY, FIVE_BY_THREE)

    assert [len(s.scenarios) for s in result.suggestions] == [3, 3, 3, 3, 3]
    assert followups(fake_gemini)[0]["cases"] == [1, 2, 3, 4, 5]
    steps = [sc.steps for s in result.suggestions for sc in s.scenarios]
    assert len(set(steps)) == 15
    assert result.warnings == []


def test_scenarios_without_then_that_stay_missing_are_named_in_the_warning(fake_gemini):
    fake_gemini.configure(faults=[{"fault": "no_then", "times": -1}])
    result = generate(STORY, GenerationRequest(test_cases=2, scenarios_per_test=3))

    # First answer: variant 2 of each case lacks a Then (2 dropped); the follow-up asks for 1 per case and gets
    # variant 1, which is valid: every case ends complete.
    assert result.warnings == []
    fake_gemini.reset()
    fake_gemini.configure(faults=[{"fault": "no_then", "times": -1}])
    result = generate(STORY, GenerationRequest(test_cases=1, scenarios_per_test=4))
    # 4 asked: variants 2 and 4 dropped; the follow-up for 2 gets variant 1 (a new text) and drops variant 2.
    assert result.got == {"test_cases": 1, "scenarios": 3}
    assert result.warnings == ["Gemini returned 3 of the 4 scenarios asked; 3 scenarios were dropped: no Then step."]


def test_every_short_batch_asks_again_in_parallel(fake_gemini):
    fake_gemini.configure(latency=0.3, faults=[{"fault": "too_few", "times": 3}])
    result = generate(STORY, NINE_BY_FIVE)

    assert result.warnings == []
    later = followups(fake_gemini)
    assert sorted(c["batch"] for c in later) == [0, 1, 2]
    # The follow-ups overlap each other rather than running one after another.
    first_end = min(c["end"] for c in later)
    assert all(c["start"] < first_end for c in later)


def test_a_failed_follow_up_keeps_what_came_back_and_warns(fake_gemini):
    fake_gemini.configure(faults=[{"fault": "leave_out"}, {"fault": "400"}])
    result = generate(STORY, FIVE_BY_THREE)

    assert result.error is None
    assert len(result.suggestions) == 4
    assert result.warnings == ["Gemini returned 4 of the 5 test cases asked (12 of 15 scenarios)."]
    assert any("follow-up call for the missing items failed" in p for p in result.report["problems"])


@pytest.mark.parametrize("generator", ["offline"])
def test_the_offline_generator_delivers_everything_asked(generator):
    result = generate(STORY, FIVE_BY_THREE, generator=generator)
    assert result.warnings == [] and result.asked == result.got == {"test_cases": 5, "scenarios": 15}
