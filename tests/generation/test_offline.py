"""The offline generator: deterministic, no network, valid Gherkin shaped by the story's own criteria."""

import pytest

from generation.engine import GenerationRequest, StorySnapshot, generate
from stories import models
from stories.gherkin import ScenarioText, scenario_problems
from tests.factories import cart_snapshot

LOGIN = "Given a registered user\nWhen they log in with the right password\nThen they see their dashboard"


def offline(story, request=None, **kwargs):
    return generate(story, request or GenerationRequest(), generator="offline", **kwargs)


def scenarios(result):
    return [s for suggestion in result.suggestions for s in suggestion.scenarios]


def test_a_given_when_then_criterion_becomes_a_scenario_as_written():
    story = StorySnapshot(
        key="SHOP-12",
        title="Add items to the cart",
        acceptance_criteria=(
            "Given a signed-in shopper and an empty cart, when they add an item to the cart, "
            "then the cart shows 1 item",
        ),
    )
    result = offline(story, GenerationRequest(test_cases=2, scenarios_per_test=2))

    first = result.suggestions[0]
    assert first.title == "The cart shows 1 item — happy path"
    assert first.scenarios[0].steps == (
        "Given a signed-in shopper\nAnd an empty cart\nWhen they add an item to the cart\nThen the cart shows 1 item"
    )
    assert "@smoke" in first.scenarios[0].tags
    ui = result.suggestions[1]
    assert ui.test_type == "UI" and ui.title == "The cart shows 1 item — negative path (UI)"
    assert ui.scenarios[0].steps.endswith("And an error message next to the affected field explains how to fix it")


def test_multi_line_given_when_then_criteria_are_read_too():
    story = StorySnapshot(
        key="S-3",
        title="Log in",
        acceptance_criteria=(LOGIN,),
    )
    first = offline(story, GenerationRequest(1, 1)).suggestions[0].scenarios[0]
    assert first.steps == LOGIN


def test_plain_criteria_become_happy_negative_and_edge_scenarios_in_the_storys_words():
    story = StorySnapshot(
        key="HR-4",
        title="Approve leave requests",
        description="As a team manager I want to approve leave requests so that my team can plan holidays.",
        acceptance_criteria=("The employee is notified by email once the request is approved",),
    )
    result = offline(story, GenerationRequest(test_cases=3, scenarios_per_test=2, test_types=("FUNCTIONAL",)))

    happy, negative, edge = result.suggestions
    assert happy.scenarios[0].steps == (
        "Given a signed-in team manager\nWhen the team manager approves leave requests\n"
        "Then the employee is notified by email once the request is approved"
    )
    assert happy.objective.startswith("Confirm that the employee is notified by email")
    assert negative.title.endswith("— negative path") and negative.priority == "high"
    assert "Then it is rejected with a message that says what to correct" in negative.scenarios[0].steps
    assert edge.title.endswith("— edge cases") and edge.priority == "low"


def test_numeric_limits_give_a_scenario_outline_of_the_boundary_values():
    story = StorySnapshot(
        key="ACC-1",
        title="Choose a password",
        description="As a new customer I want to choose a password so that my account is safe.",
        acceptance_criteria=("The password has at least 8 characters", "A nickname is between 3 and 20 characters"),
    )
    result = offline(story, GenerationRequest(test_cases=6, scenarios_per_test=4, test_types=("FUNCTIONAL",)))
    boundary = [s for s in result.suggestions if s.title.endswith("boundary values")]
    names = [[sc.name for sc in case.scenarios] for case in boundary]

    assert names[0][:2] == [
        "Values around the limit of 8 characters",
        "7 characters is rejected (just outside the limit)",
    ]
    assert names[1][:3] == [
        "Values around the limit of 3 to 20 characters",
        "2 characters is rejected (just outside the limit)",
        "21 characters is rejected (just outside the limit)",
    ]
    assert boundary[1].scenarios[0].steps == (
        "Given a signed-in new customer\n"
        "When the new customer chooses a password with <value> characters\n"
        "Then it is <outcome>\n"
        "Examples:\n"
        "| value | edge         | outcome  |\n"
        "| 3     | at the limit | accepted |\n"
        "| 20    | at the limit | accepted |\n"
        "| 2     | just outside | rejected |\n"
        "| 21    | just outside | rejected |"
    )
    rejected = boundary[0].scenarios[1].steps
    assert "When the new customer chooses a password with 7 characters" in rejected
    assert (
        "Then it is rejected with a message that states the limit of 8 characters\nAnd nothing is changed" in rejected
    )


def test_an_outline_is_valid_gherkin_and_cites_its_criterion():
    result = offline(cart_snapshot(criteria=3), GenerationRequest(test_cases=8, scenarios_per_test=3))
    outlines = [sc for case in result.suggestions for sc in case.scenarios if "Examples:" in sc.steps]

    assert outlines, "the limit 'at most 50 items' gives a Scenario Outline"
    for outline in outlines:
        assert scenario_problems(ScenarioText(outline.name, outline.steps, outline.tags)) == []
        assert outline.criteria == [2]  # AC-2: "The cart holds at most 50 items"
        assert "| 50    | at the limit | accepted |" in outline.steps
        assert "| 51    | just outside | rejected |" in outline.steps


def test_criteria_without_numbers_give_no_outline():
    result = offline(cart_snapshot(criteria=3, acceptance_criteria=("Removing the last item empties the cart",)))
    assert not any("Examples:" in sc.steps for sc in scenarios(result))


def test_a_time_limit_shapes_performance_checks():
    story = StorySnapshot(
        key="SRCH-2", title="Search products", acceptance_criteria=("Results appear within 2 seconds",)
    )
    result = offline(story, GenerationRequest(test_cases=3, scenarios_per_test=2, test_types=("PERFORMANCE",)))
    steps = "\n".join(s.steps for s in scenarios(result))
    assert "And the response arrives within 2 seconds" in steps
    assert "Then the result is shown within 2 seconds" in steps


def test_a_story_without_criteria_still_gets_what_was_asked_for():
    story = StorySnapshot(key="S-9", title="Shopper can save a wish list", description="")
    result = offline(story, GenerationRequest(test_cases=4, scenarios_per_test=3))

    assert [len(s.scenarios) for s in result.suggestions] == [3, 3, 3, 3]
    assert result.suggestions[0].scenarios[0].steps.startswith("Given a signed-in shopper\nWhen the shopper saves")


@pytest.mark.parametrize("test_type", models.TestType.values)
def test_every_test_type_at_the_largest_request_is_valid_unique_and_complete(test_type):
    story = cart_snapshot(criteria=2, project_name="")
    result = offline(story, GenerationRequest(10, 10, (test_type,)))
    everything = scenarios(result)

    assert len(everything) == 100 and result.report["duplicates_removed"] == 0
    assert all(scenario_problems(ScenarioText(s.name, s.steps, s.tags)) == [] for s in everything)
    assert len({s.steps for s in everything}) == 100
    assert {s.test_type for s in result.suggestions} == {test_type}
    assert all(len({sc.name for sc in case.scenarios}) == 10 for case in result.suggestions)


def test_offline_runs_through_the_same_batches_progress_and_checkpoints(settings):
    settings.QAFORGE_BATCH_SIZE = 6
    story = StorySnapshot(key="S-5", title="Export a report", acceptance_criteria=("The export is a CSV file",))
    progress = []
    first = offline(story, GenerationRequest(4, 3), on_batch_done=lambda b, d, t: progress.append((b.index, d, t)))

    assert sorted(p[0] for p in progress) == [0, 1]
    assert [p[1:] for p in progress] == [(1, 2), (2, 2)]
    assert first.report["generator"] == "offline" and first.report["label"] == "Offline generator"
    assert first.report["batches_total"] == 2

    again = offline(story, GenerationRequest(4, 3), done={0: _batch(story, 0)})
    assert [s.to_dict() for s in again.suggestions] == [s.to_dict() for s in first.suggestions]
    assert again.report["batches_reused"] == 1


def _batch(story, index):
    results = {}
    offline(story, GenerationRequest(4, 3), on_batch_done=lambda b, d, t: results.setdefault(b.index, b))
    return results[index]


def test_auto_runs_offline_without_a_key(monkeypatch, settings):
    monkeypatch.setenv("GEMINI_API_KEY", "")
    settings.QAFORGE_GENERATOR = "auto"
    story = StorySnapshot(key="S-6", title="Export a report")
    assert generate(story, GenerationRequest(1, 1)).report["generator"] == "offline"


def test_and_inside_a_phrase_does_not_split_a_step():
    from generation.engine.text import parse_gwt

    gwt = parse_gwt(
        "Given a registered shopper, when they sign in with the right email and password, "
        "then they see their account page and the basket they left"
    )
    assert gwt.whens == ("they sign in with the right email and password",)
    assert gwt.thens == ("they see their account page", "the basket they left")
