"""Suggestions that repeat what the story already has are flagged in the review and skipped unless kept."""

from django.urls import reverse

from generation import duplicates
from stories.models import Scenario, TestCase
from tests import factories
from tests.generation.test_views import HTMX, STEPS, ready_job, review_data

OTHER = "Given a shopper with 50 items in the cart\nWhen they add one more\nThen the cart refuses it"


def test_rewordings_are_repeats_and_different_situations_or_numbers_are_not():
    assert duplicates.similarity(STEPS, STEPS.replace("When they", "When the shopper").replace("And", "*")) < 99
    reworded = "Given the shopper with an empty cart\nWhen they add the book\nThen I see that the cart shows 1 item"
    assert duplicates.similarity(STEPS, reworded) == 100  # small words and keywords only
    assert duplicates.similarity(OTHER, OTHER.replace("50", "49")) == 0  # another boundary value
    never = "Given a returning shopper\nAnd the shopper has never done this before\nWhen they pay\nThen it works"
    assert duplicates.similarity(never, never.replace("never ", "")) < duplicates.SCENARIO_SIMILARITY


def test_a_suggestion_repeating_a_saved_test_case_is_flagged_and_skipped_by_default(client_logged_in, story):
    saved = factories.make_test_case(story, scenarios=0, title="Add a book")
    Scenario.objects.create(test_case=saved, name="Adds a book", steps=STEPS.replace("a book", "the book"))
    job = ready_job(story, suggestions=2)  # every suggested scenario has STEPS
    second = job.suggestions.last()
    second.scenarios = [{"name": "Full cart", "steps": OTHER, "criteria": [1, 2]}]
    second.save()

    html = client_logged_in.get(reverse("generation:review", args=[job.pk]), headers=HTMX).content.decode()
    assert f'Looks like <a href="/stories/{story.key}/#test-case-{saved.pk}"' in html
    assert f"TC-{saved.pk} · Add a book</a>: skipped." in html
    assert 'name="case-0-DELETE" id="id_case-0-DELETE" checked' in html  # the default action: skip
    assert 'name="case-1-DELETE" id="id_case-1-DELETE">' in html
    assert "<span data-kept-count>1</span> of <span data-total-count>2</span> suggested test cases kept" in html

    client_logged_in.post(reverse("generation:save", args=[job.pk]), review_data(job, **{"case-0-DELETE": "on"}))
    assert list(TestCase.objects.exclude(pk=saved.pk).values_list("title", flat=True)) == [second.title]


def test_the_lead_can_keep_a_flagged_suggestion(client_logged_in, story):
    saved = factories.make_test_case(story, scenarios=0, title="Add a book")
    Scenario.objects.create(test_case=saved, name="Adds a book", steps=STEPS)
    job = ready_job(story, suggestions=1)
    client_logged_in.post(reverse("generation:save", args=[job.pk]), review_data(job))  # DELETE left unticked
    assert TestCase.objects.count() == 2


def test_a_single_repeated_scenario_is_removed_by_default_and_the_rest_kept(client_logged_in, story):
    saved = factories.make_test_case(story, scenarios=0, title="Full cart")
    Scenario.objects.create(test_case=saved, name="Refuses the 51st item", steps=OTHER)
    job = ready_job(story, suggestions=1)
    suggestion = job.suggestions.get()
    suggestion.scenarios = [suggestion.scenarios[0], {"name": "Full", "steps": OTHER, "criteria": [2]}]
    suggestion.save()

    html = client_logged_in.get(reverse("generation:review", args=[job.pk]), headers=HTMX).content.decode()
    assert f"Repeats <strong>TC-{saved.pk} · Full cart · Refuses the 51st item</strong>" in html
    assert 'name="case-0-sc-1-DELETE" id="id_case-0-sc-1-DELETE" checked' in html
    assert 'name="case-0-DELETE" id="id_case-0-DELETE">' in html
