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
    assert [t["name"] for t in feature["tags"]] == ["@SHOP-12", test_case.id_tag, "@functional", "@priority-medium"]
    assert [c["scenario"]["name"] for c in feature["children"]] == ["Scenario 1", "Scenario 2", "Scenario 3"]
    first = test_case.scenarios.first()
    assert [t["name"] for t in feature["children"][0]["scenario"]["tags"]] == [f"@sc-{first.pk}", "@smoke"]
    assert "Preconditions: A product exists" in feature["description"]


def test_preconditions_made_of_steps_become_a_background_and_risky_description_lines_stay_description(story):
    test_case = factories.make_test_case(
        story=story,
        objective="Given this line looks like a step\n# and this one like a comment",
        preconditions="Given a product exists\nAnd the shopper is signed in",
    )
    feature = Parser().parse(test_case.feature_text())["feature"]
    background = feature["children"][0]["background"]
    assert [s["text"] for s in background["steps"]] == ["a product exists", "the shopper is signed in"]
    assert feature["description"].split("\n") == [
        "  - Given this line looks like a step",
        "  - # and this one like a comment",
    ]


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


# --- Keys: one spelling, natural order ------------------------------------------------------------------------------


def test_story_and_project_keys_are_stored_in_upper_case_and_found_in_any_case(db):
    project = factories.make_project(key="web")
    story = factories.make_story(project=project, key=" web-7 ")
    assert (project.key, story.key) == ("WEB", "WEB-7")
    assert UserStory.objects.get(key="web-7") == story
    assert list(UserStory.objects.filter(key__in=["Web-7"])) == [story]
    assert UserStory.objects.filter(project__key="web").count() == 1


def test_a_key_that_differs_only_in_case_cannot_be_added_twice(story):
    duplicate = UserStory(key="shop-12", title="Again")
    with pytest.raises(ValidationError) as error:
        duplicate.full_clean()
    assert "key" in error.value.message_dict


def test_stories_sort_naturally_including_after_bulk_create(project):
    for key in ["SHOP-10", "SHOP-2", "SHOP-1", "AB-100", "SHOP-9"]:
        factories.make_story(project=project, key=key)
    UserStory.objects.bulk_create([UserStory(key="shop-11", title="Bulk"), UserStory(key="A-3", title="Bulk")])
    keys = list(UserStory.objects.natural_order().values_list("key", flat=True))
    assert keys == ["A-3", "AB-100", "SHOP-1", "SHOP-2", "SHOP-9", "SHOP-10", "SHOP-11"]
    assert list(UserStory.objects.values_list("key", flat=True)) == keys  # the default ordering too


def test_the_stories_table_order_groups_by_project_then_natural_key(db):
    web, shop = factories.make_project(key="WEB"), factories.make_project(key="SHOP")
    for key, project in [("WEB-10", web), ("SHOP-10", shop), ("X-1", None), ("WEB-9", web), ("SHOP-2", shop)]:
        factories.make_story(project=project, key=key)
    keys = list(UserStory.objects.natural_order(by_project=True).values_list("key", flat=True))
    assert keys == ["SHOP-2", "SHOP-10", "WEB-9", "WEB-10", "X-1"]


def test_changing_a_key_with_update_fields_keeps_the_sort_key_in_step(project):
    story = factories.make_story(project=project, key="SHOP-100")
    factories.make_story(project=project, key="SHOP-20")
    story.key = "SHOP-3"
    story.save(update_fields=["key"])
    assert list(UserStory.objects.values_list("key", flat=True)) == ["SHOP-3", "SHOP-20"]
