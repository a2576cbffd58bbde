"""Models: validation on save (invalid Gherkin is rejected with a message), feature text, list querysets."""

import pytest
from django.core.exceptions import ValidationError
from gherkin.parser import Parser

from stories.models import Scenario, TestCase, UserStory
from tests import factories


def test_scenario_without_a_then_is_rejected_with_a_message(story):
    test_case = factories.make_test_case(story=story, scenarios=0)
    with pytest.raises(ValidationError) as error:
        Scenario.objects.create(test_case=test_case, name="No outcome", steps="Given a cart\nWhen I pay")
    assert error.value.message_dict["steps"] == ["The scenario needs a 'Then' step that states the expected outcome."]
    assert not Scenario.objects.exists()


def test_scenario_with_a_line_that_is_not_a_step_names_the_line(story):
    test_case = factories.make_test_case(story=story, scenarios=0)
    with pytest.raises(ValidationError) as error:
        Scenario.objects.create(
            test_case=test_case, name="Bad", steps="Given a cart\nclick the pay button\nThen it is paid"
        )
    assert "Step line 2: 'click the pay button' is not a Gherkin step" in error.value.message_dict["steps"][0]


def test_scenario_needs_steps_and_a_name(story):
    test_case = factories.make_test_case(story=story, scenarios=0)
    with pytest.raises(ValidationError) as error:
        Scenario.objects.create(test_case=test_case, name="", steps="")
    assert "name" in error.value.message_dict


def test_scenario_steps_and_tags_are_normalised_on_save(story):
    test_case = factories.make_test_case(story=story, scenarios=0)
    scenario = Scenario.objects.create(
        test_case=test_case, name="Ok", steps="  Given a cart\r\n\r\n   When I pay\n Then it is paid  ", tags=["smoke"]
    )
    assert scenario.steps == "Given a cart\nWhen I pay\nThen it is paid"
    assert scenario.tags == ["@smoke"]


def test_feature_text_parses_with_gherkin_official(story):
    test_case = factories.make_test_case(story=story, title="Cart", scenarios=3, preconditions="A product exists")
    text = test_case.feature_text()
    document = Parser().parse(text)
    feature = document["feature"]
    assert feature["name"] == "Cart"
    assert [t["name"] for t in feature["tags"]] == ["@functional", "@SHOP-12"]
    assert [c["scenario"]["name"] for c in feature["children"]] == ["Scenario 1", "Scenario 2", "Scenario 3"]
    assert "Preconditions: A product exists" in feature["description"]


def test_story_clean_strips_acceptance_criteria(project):
    story = UserStory(project=project, key="SHOP-1", title="T", acceptance_criteria=[" a ", "", "b"])
    story.full_clean()
    assert story.acceptance_criteria == ["a", "b"]
    story.acceptance_criteria = "not a list"
    with pytest.raises(ValidationError):
        story.full_clean()


def test_queryset_counts_test_cases_and_filters_on_them(project):
    tested = factories.make_story(project=project, key="SHOP-1", title="Pay by card")
    factories.make_test_case(story=tested)
    factories.make_test_case(story=tested)
    untested = factories.make_story(project=project, key="SHOP-2", title="Track parcel")
    counts = dict(UserStory.objects.with_test_case_count().values_list("key", "test_case_count"))
    assert counts == {"SHOP-1": 2, "SHOP-2": 0}
    assert list(UserStory.objects.with_test_cases(True)) == [tested]
    assert list(UserStory.objects.with_test_cases(False)) == [untested]
    assert list(UserStory.objects.search("CARD")) == [tested]
    assert list(UserStory.objects.search("shop-2")) == [untested]
    assert UserStory.objects.search("  ").count() == 2


def test_deleting_a_story_deletes_its_test_cases_and_scenarios(story):
    factories.make_test_case(story=story, scenarios=2)
    story.delete()
    assert not TestCase.objects.exists() and not Scenario.objects.exists()


def test_test_case_url_points_at_its_place_on_the_story_page(story):
    test_case = factories.make_test_case(story=story)
    assert test_case.get_absolute_url() == f"/stories/SHOP-12/#test-case-{test_case.pk}"
