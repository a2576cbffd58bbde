"""Acceptance criteria keep stable numbers (AC-1, AC-2, …) through edits; coverage counts what saved scenarios cite."""

from stories import criteria
from stories.models import Scenario, UserStory
from tests import factories

CRITERIA = ["The cart holds at most 50 items", "Removing the last item empties the cart", "Prices include VAT"]


def numbers(story) -> list[tuple[int, str]]:
    story.refresh_from_db()
    return story.numbered_criteria


def test_a_new_story_numbers_its_criteria_from_one(project):
    story = factories.make_story(project=project, acceptance_criteria=CRITERIA)
    assert [n for n, _ in numbers(story)] == [1, 2, 3]
    assert (story.criteria_count, story.criteria_covered) == (3, 0)


def test_edited_criteria_keep_their_numbers_and_new_ones_get_new_numbers(project):
    story = factories.make_story(project=project, acceptance_criteria=CRITERIA)
    story.acceptance_criteria = [
        "Only signed-in shoppers can add items",  # new, first in the list
        "The cart holds at most 40 items",  # AC-1 edited
        "Prices include VAT",  # AC-3 unchanged; AC-2 removed
    ]
    story.save()
    assert numbers(story) == [
        (4, "Only signed-in shoppers can add items"),
        (1, "The cart holds at most 40 items"),
        (3, "Prices include VAT"),
    ]
    story.acceptance_criteria = [*story.acceptance_criteria, "Removing the last item empties the cart"]
    story.save()
    assert numbers(story)[-1] == (5, "Removing the last item empties the cart"), "a removed number is never reused"


def test_a_save_that_does_not_touch_the_criteria_keeps_the_numbers(project):
    story = factories.make_story(project=project, acceptance_criteria=CRITERIA)
    story.acceptance_criteria = CRITERIA[1:]
    story.save()
    story.title = "Renamed"
    story.save(update_fields=["title"])
    assert [n for n, _ in numbers(story)] == [2, 3]


def test_renumber_matches_similar_texts_only():
    assert criteria.renumber(["Prices include VAT"], [7], ["Totals are rounded to cents"], 8) == ([8], 9)
    assert criteria.renumber(["Prices include VAT"], [7], ["Prices include 20% VAT"], 8) == ([7], 8)


def test_the_revision_changes_with_what_a_generator_reads(project):
    story = factories.make_story(project=project, acceptance_criteria=CRITERIA)
    before = story.revision
    story.labels = ["cart"]
    assert story.revision == before
    story.acceptance_criteria = [*CRITERIA[:2], "Prices include 20% VAT"]
    assert story.revision != before and len(story.revision) == 12


def test_changes_between_two_revisions():
    before = [(1, "A rule"), (2, "Prices include VAT"), (3, "Gone soon")]
    after = [(1, "A rule"), (2, "Prices include 20% VAT"), (4, "New rule")]
    assert criteria.changes(before, after) == {"edited": [2], "added": [4], "removed": [3]}


def test_coverage_follows_saved_scenarios(project):
    story = factories.make_story(project=project, acceptance_criteria=CRITERIA)
    other = factories.make_story(project=project, acceptance_criteria=CRITERIA[:1])
    case = factories.make_test_case(story, scenarios=0)
    scenario = Scenario.objects.create(
        test_case=case, name="Full cart", steps="Given a cart\nWhen I add\nThen I see 1 item", criteria=[1, 3]
    )
    story.refresh_from_db()
    assert story.criteria_covered == 2
    assert list(UserStory.objects.with_uncovered_criteria().order_by("pk")) == [story, other]
    assert UserStory.objects.filter(project=project).coverage() == {"criteria": 4, "covered": 2, "percent": 50}

    scenario.delete()
    story.refresh_from_db()
    assert story.criteria_covered == 0

    Scenario.objects.create(test_case=case, name="All", steps="Given a\nWhen b\nThen c", criteria=[1, 2, 3])
    assert list(UserStory.objects.with_uncovered_criteria()) == [other]
