"""Scenario Outlines from Gemini: asked for in the prompt and schema, stored as steps plus an Examples table,
dropped and asked for again when the table is broken. Driven through the real SDK against the fake Gemini server."""

import pytest

from generation.engine import GenerationRequest, generate
from generation.engine.prompts import SYSTEM_INSTRUCTION
from stories.gherkin import ScenarioText, scenario_problems
from tests.factories import cart_snapshot

STORY = cart_snapshot(criteria=2)
TWO_BY_TWO = GenerationRequest(test_cases=2, scenarios_per_test=2)


def followups(fake):
    return [c for c in fake.calls if c["followup"]]


def test_the_prompt_and_schema_offer_an_examples_table(fake_gemini):
    generate(STORY, TWO_BY_TWO)

    schema = fake_gemini.calls[0]["response_schema"]
    scenario = schema["properties"]["test_cases"]["items"]["properties"]["scenarios"]["items"]
    examples = scenario["properties"]["examples"]
    assert examples["nullable"] is True and examples["required"] == ["columns", "rows"]
    assert examples["properties"]["rows"]["items"]["type"] == "ARRAY"
    assert "Every placeholder in the steps must be a column." in SYSTEM_INSTRUCTION


def test_an_outline_from_gemini_is_stored_as_steps_and_an_aligned_examples_table(fake_gemini):
    fake_gemini.configure(faults=[{"fault": "outline"}])
    result = generate(STORY, TWO_BY_TWO)

    outline = result.suggestions[0].scenarios[0]
    assert outline.name == "Quantity limits for case 1"
    assert outline.steps == (
        "Given the SHOP-12 cart for case 1 is empty\n"
        "When the shopper adds <quantity> items\n"
        "Then the cart is <result>\n"
        "Examples:\n"
        "| quantity | result                       |\n"
        "| 1        | accepted                     |\n"
        "| 50       | accepted                     |\n"
        "| 51       | refused with the limit of 50 |"
    )
    assert scenario_problems(ScenarioText(outline.name, outline.steps, outline.tags)) == []
    assert result.warnings == [] and not followups(fake_gemini)
    assert "Examples:" not in result.suggestions[0].scenarios[1].steps  # the others stay plain scenarios


@pytest.mark.parametrize("broken", ["outline_unknown_placeholder", "outline_ragged", "outline_no_rows"])
def test_a_broken_outline_is_dropped_counted_and_asked_for_again(fake_gemini, broken):
    fake_gemini.configure(faults=[{"fault": broken}])
    result = generate(STORY, TWO_BY_TWO)

    assert result.report["dropped_reasons"] == {"broken Examples table": 2}  # one per test case
    assert followups(fake_gemini)[0]["cases"] == [1, 2]
    assert [len(s.scenarios) for s in result.suggestions] == [2, 2]
    assert result.warnings == []


def test_placeholders_without_an_examples_table_are_an_unfinished_outline(fake_gemini):
    fake_gemini.configure(faults=[{"fault": "outline_no_examples"}])
    result = generate(STORY, TWO_BY_TWO)

    assert result.report["dropped_reasons"] == {"placeholders without Examples": 2}
    assert followups(fake_gemini)[0]["cases"] == [1, 2]
    assert not any("<quantity>" in sc.steps for s in result.suggestions for sc in s.scenarios)
    assert result.warnings == []


def test_markup_a_security_scenario_types_is_not_taken_for_placeholders():
    from generation.engine.gemini import _unfilled_outline

    assert not _unfilled_outline("When they enter <script>alert(1)</script> as their name\nThen it is shown as text")
    assert not _unfilled_outline("When they enter <img src=x onerror=alert(1)> as their name\nThen nothing runs")
    assert _unfilled_outline("When they add <quantity> items\nThen the cart is <result>")


def test_an_outline_that_stays_broken_is_named_in_the_warning(fake_gemini):
    fake_gemini.configure(faults=[{"fault": "outline_ragged", "times": -1}])
    result = generate(STORY, GenerationRequest(test_cases=1, scenarios_per_test=2))

    assert len(fake_gemini.calls) == 2  # asked once more, not more
    assert result.got == {"test_cases": 1, "scenarios": 1}
    assert result.warnings == [
        "Gemini returned 1 of the 2 scenarios asked; 2 scenarios were dropped: broken Examples table."
    ]
