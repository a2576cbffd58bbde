"""stories.gherkin: validation messages, feature rendering, highlighting (escaped), tag cleaning."""

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
