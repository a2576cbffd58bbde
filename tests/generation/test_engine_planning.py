"""Planning: whole test cases packed into balanced batches, each test case with its own focus."""

import json

from generation.engine import BatchResult, GenerationRequest, StorySnapshot, SuggestedScenario, Suggestion, plan
from generation.engine.prompts import batch_prompt
from tests.factories import cart_snapshot

CART = cart_snapshot()


def test_45_scenarios_become_three_batches_of_whole_test_cases():
    the_plan = plan(CART, GenerationRequest(test_cases=9, scenarios_per_test=5), batch_size=15)

    assert [len(b.cases) for b in the_plan.batches] == [3, 3, 3]
    assert [b.scenarios for b in the_plan.batches] == [15, 15, 15]
    assert [c.number for c in the_plan.cases] == list(range(1, 10))


def test_batches_are_balanced_and_a_big_test_case_gets_a_batch_of_its_own():
    assert [b.scenarios for b in plan(CART, GenerationRequest(7, 3), batch_size=15).batches] == [12, 9]
    assert len(plan(CART, GenerationRequest(10, 10), batch_size=15).batches) == 10
    assert len(plan(CART, GenerationRequest(5, 3), batch_size=15).batches) == 1
    assert [b.scenarios for b in plan(CART, GenerationRequest(2, 10), batch_size=4).batches] == [10, 10]


def test_the_batch_size_setting_is_read_at_call_time(settings):
    settings.QAFORGE_BATCH_SIZE = 3
    assert len(plan(CART, GenerationRequest(4, 3)).batches) == 4


def test_every_test_case_gets_its_own_focus_happy_paths_first_then_stated_limits():
    cases = plan(CART, GenerationRequest(test_cases=10, scenarios_per_test=1)).cases
    focus = [(c.criterion_index, c.angle) for c in cases]

    assert focus[:3] == [(0, "happy"), (1, "happy"), (2, "happy")]
    # Only the criterion with a numeric limit ("at most 50 items") gets a boundary test case, before the negatives.
    assert focus[3] == (1, "boundary")
    assert focus[4:7] == [(0, "negative"), (1, "negative"), (2, "negative")]
    assert [f for f in focus if f[1] == "boundary"] == [(1, "boundary")]
    assert len(set(focus)) == len(focus)
    assert [c.test_type for c in cases[:4]] == ["FUNCTIONAL", "UI", "FUNCTIONAL", "UI"]
    assert cases[0].priority == "high" and cases[3].priority == "medium"


def test_focus_repeats_as_a_new_variation_once_every_combination_is_taken():
    story = StorySnapshot(key="S-1", title="Export a report", acceptance_criteria=("The export is a CSV file",))
    cases = plan(story, GenerationRequest(test_cases=5, scenarios_per_test=1, test_types=("API",))).cases

    assert [(c.angle, c.variation) for c in cases] == [
        ("happy", 0),
        ("negative", 0),
        ("edge", 0),
        ("happy", 1),
        ("negative", 1),
    ]
    assert "variation 2" in cases[3].describe()


def test_a_story_without_criteria_is_planned_as_a_whole():
    story = StorySnapshot(key="S-2", title="Shopper can reset their password")
    cases = plan(story, GenerationRequest(test_cases=2, scenarios_per_test=2)).cases

    assert all(c.criterion_index is None for c in cases)
    assert "the story as a whole" in cases[0].describe()


def test_planning_is_deterministic():
    request = GenerationRequest(8, 4, ("FUNCTIONAL", "SECURITY", "API"))
    assert plan(CART, request) == plan(CART, request)


def test_each_batch_prompt_names_only_its_own_test_cases():
    the_plan = plan(CART, GenerationRequest(test_cases=9, scenarios_per_test=5), batch_size=15)
    prompt = batch_prompt(the_plan, the_plan.batches[1])

    assert "Batch 2 of 3." in prompt
    assert "- case 4 | type UI | scenarios 5 | angle boundary" in prompt
    assert "- case 1 |" not in prompt and "- case 7 |" not in prompt
    assert "2. The cart holds at most 50 items" in prompt


def test_request_problems_are_messages_for_a_person():
    assert GenerationRequest().problems() == []
    problems = GenerationRequest(test_cases=0, scenarios_per_test=11, test_types=("UI", "SMOKE")).problems()
    assert problems == [
        "Ask for between 1 and 10 test cases.",
        "Ask for between 1 and 10 scenarios per test case.",
        "Unknown test type: SMOKE (choose from FUNCTIONAL, UI, API, INTEGRATION, SECURITY, PERFORMANCE, "
        "ACCESSIBILITY, REGRESSION).",
    ]
    assert GenerationRequest(test_types=()).problems() == ["Choose at least one test type."]


def test_a_batch_result_round_trips_through_json():
    result = BatchResult(
        index=2,
        suggestions=[
            Suggestion(
                "Title",
                "Objective",
                "Pre",
                "UI",
                "high",
                [SuggestedScenario("S", "Given a\nWhen b\nThen c", ["@smoke"])],
                case_number=7,
            )
        ],
        attempts=2,
        retries=1,
        seconds=1.25,
        dropped_invalid=1,
        error=None,
    )
    assert BatchResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_a_snapshot_is_taken_from_a_story_row(story):
    story.acceptance_criteria = ["First rule", "  ", "Second rule"]
    snapshot = StorySnapshot.from_story(story)
    assert snapshot == StorySnapshot(
        key="SHOP-12",
        title="Add items to the cart",
        description=story.description,
        acceptance_criteria=("First rule", "Second rule"),
        project_name="Web shop",
        criteria_numbers=(1, 3),  # the blank line keeps its number's place
        revision=story.revision,
    )
    story.project = None
    assert StorySnapshot.from_story(story).project_name == ""
