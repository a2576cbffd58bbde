"""stories.gherkin: validation messages, feature rendering, highlighting (escaped), tag cleaning."""

import pytest
from gherkin.parser import Parser

from stories import gherkin
from stories.gherkin import ScenarioText
from stories.templatetags.stories_tags import gherkin_steps


def test_valid_scenario_has_no_problems():
    assert gherkin.scenario_problems(ScenarioText("Pay", "Given a cart\nWhen I pay\nThen it is paid")) == []
    assert gherkin.is_valid(ScenarioText("Pay", "Given a cart\nAnd a card\nWhen I pay\nThen it is paid\nBut no mail"))


def test_problems_are_readable():
    assert gherkin.scenario_problems(ScenarioText("", "Given x\nThen y")) == ["The scenario needs a name."]
    assert gherkin.scenario_problems(ScenarioText("A", "  \n ")) == ["The scenario needs at least one step."]
    assert gherkin.scenario_problems(ScenarioText("A", "Given x\nWhen y")) == [
        "The scenario needs a 'Then' step that states the expected outcome."
    ]
    assert gherkin.scenario_problems(ScenarioText("A", "Given x\nThen y", ["@a b"])) != []
    problems = gherkin.scenario_problems(ScenarioText("A", "Given x\nScenario: another\nThen y"))
    assert problems and "exactly one scenario" in problems[0]


def test_a_scenario_that_broke_the_parser_leaves_nothing_behind_for_the_next_check():
    # The parser and its token matcher are reused per thread: a parse that failed half-way (in the middle of a doc
    # string or a table) must not change how the next scenario is read.
    broken = [
        ScenarioText("A", 'Given a note\n"""\nnever closed'),
        ScenarioText("B", "Given <n> items\nThen <n> shown\nExamples:\n| n |\n| 1 | 2 |"),
        ScenarioText("C", "Given x\nScenario: another\nThen y"),
    ]
    valid = ScenarioText("Pay", "Given a cart\nWhen I pay\nThen it is paid")
    for scenario in broken:
        gherkin.scenario_problems(scenario)
        assert gherkin.scenario_problems(valid) == []


def test_scenario_outline_with_examples_is_accepted_and_parses():
    steps = "Given <count> items\nWhen I pay\nThen I pay <total>\nExamples:\n| count | total |\n| 1 | 5 |"
    scenario = ScenarioText("Totals", steps)
    assert gherkin.scenario_problems(scenario) == []
    text = gherkin.feature_text("Cart", [scenario])
    assert "Scenario Outline: Totals" in text
    assert Parser().parse(text)["feature"]["children"][0]["scenario"]["examples"]


def test_feature_text_has_tags_description_and_scenarios():
    text = gherkin.feature_text(
        "  Cart   totals ", [ScenarioText("One", "Given a\nThen b", ["smoke"])], description="Why\n\nHow", tags=["x"]
    )
    assert text == "@x\nFeature: Cart totals\n  Why\n  How\n\n  @smoke\n  Scenario: One\n    Given a\n    Then b\n"


def test_highlight_wraps_keywords_and_escapes_everything_else():
    html = str(gherkin.highlight("Given a <b>bold</b> & risky step\nThen Givenness stays"))
    assert html == (
        '<b class="kw">Given</b> a &lt;b&gt;bold&lt;/b&gt; &amp; risky step\n<b class="kw">Then</b> Givenness stays'
    )


def test_template_filter_indents_highlighted_steps():
    assert str(gherkin_steps("Given a\nThen <b>")) == '  <b class="kw">Given</b> a\n  <b class="kw">Then</b> &lt;b&gt;'


def test_clean_tags():
    assert gherkin.clean_tags("smoke, @ui  ui") == ["@smoke", "@ui"]
    assert gherkin.clean_tags(["@a", "b", ""]) == ["@a", "@b"]


OUTLINE = "Given <count> items\nWhen I pay\nThen I pay <total>\nExamples:\n|count|total|\n| 1 | 5 |\n|10|50|"


def test_an_outline_is_stored_with_its_table_aligned():
    assert gherkin.normalise_steps(OUTLINE) == (
        "Given <count> items\nWhen I pay\nThen I pay <total>\nExamples:\n"
        "| count | total |\n| 1     | 5     |\n| 10    | 50    |"
    )
    # A pipe inside a cell stays escaped; a table with an unclosed row is left as typed for validation to report.
    assert gherkin.normalise_steps("Then x\nExamples:\n| a \\| b | c |\n| 1 | 2 |") == (
        "Then x\nExamples:\n| a \\| b | c |\n| 1      | 2 |"
    )
    assert gherkin.normalise_steps("Then x\n| a | b\n| 1 | 2 |") == "Then x\n| a | b\n| 1 | 2 |"


@pytest.mark.parametrize(
    ("steps", "problem"),
    [
        (
            "Given <count> items\nThen I pay <total>\nExamples:\n| count |\n| 1 |",
            "Step line 2 uses <total>, which is not a column of the Examples table (its columns: count).",
        ),
        (
            "Given <count> items\nThen I pay <total>\nExamples:\n| count | total |\n| 1 |",
            "Step line 5: this table row has 1 cell and the table's first row 2: give every row one value per column.",
        ),
        (
            "Given <count> items\nThen I pay <total>\nExamples:\n| count | total |",
            "The Examples table on step line 3 has no rows: add a row of values under the header for each run.",
        ),
        (
            "Given <count> items\nThen I pay <total>\nExamples:",
            "The Examples table on step line 3 needs a header row naming its columns (like | amount | result |) "
            "and a row of values for each run.",
        ),
        (
            "Given <count> items\nThen I pay <total>\nExamples:\n| count | total |\n| 1 | 2",
            "Step line 5: a table row must end with '|' (what follows the last '|' is lost).",
        ),
        (
            "Given <count> items\nThen I pay\nExamples:\n| count | count |\n| 1 | 2 |",
            "The Examples table on step line 3 names the column 'count' twice.",
        ),
    ],
    ids=["unknown-placeholder", "ragged-row", "no-rows", "no-table", "unclosed-row", "repeated-column"],
)
def test_a_broken_outline_says_what_to_fix(steps, problem):
    assert gherkin.scenario_problems(ScenarioText("Totals", steps)) == [problem]


def test_angle_brackets_in_a_plain_scenario_are_text_not_placeholders():
    assert gherkin.scenario_problems(ScenarioText("XSS", "When I type <script>\nThen it is shown as text")) == []


def test_an_outline_renders_as_scenario_outline_with_its_examples_indented():
    text = gherkin.feature_text("Cart", [ScenarioText("Totals", OUTLINE, ["@boundary"])])
    assert text == (
        "Feature: Cart\n\n  @boundary\n  Scenario Outline: Totals\n    Given <count> items\n    When I pay\n"
        "    Then I pay <total>\n    Examples:\n"
        "      | count | total |\n      | 1     | 5     |\n      | 10    | 50    |\n"
    )
    assert Parser().parse(text)["feature"]["children"][0]["scenario"]["keyword"] == "Scenario Outline"


def test_the_pages_show_an_outline_with_its_keyword_placeholders_and_aligned_table():
    html = str(gherkin_steps(OUTLINE))
    assert html.split("\n")[2] == '  <b class="kw">Then</b> I pay <span class="ph">&lt;total&gt;</span>'
    assert html.split("\n")[3:] == [
        '  <b class="kw">Examples</b>:',
        '<span class="table-row">    | count | total |</span>',  # a row never wraps: its columns stay aligned
        '<span class="table-row">    | 1     | 5     |</span>',
        '<span class="table-row">    | 10    | 50    |</span>',
    ]
    assert gherkin.scenario_keyword(OUTLINE) == "Scenario Outline"
    assert gherkin.scenario_keyword("Given a\nThen b") == "Scenario"
