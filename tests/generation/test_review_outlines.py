"""A Scenario Outline in the review: shown with its Examples table, its table edited as text in the steps, a broken
table refused with a clear error (nothing saved, nothing lost), a good one saved as an outline."""

from django.urls import reverse

from stories.gherkin import ScenarioText, feature_text
from stories.models import Scenario, TestCase
from tests.factories import OUTLINE_STEPS
from tests.generation.test_views import HTMX, ready_job, review_data, toasts


def outline_job(story):
    job = ready_job(story, suggestions=1)
    suggestion = job.suggestions.get()
    suggestion.scenarios[0] = {**suggestion.scenarios[0], "name": "Cart limit", "steps": OUTLINE_STEPS}
    suggestion.save()
    return job


def save(client, job, data):
    return client.post(reverse("generation:save", args=[job.pk]), data, headers=HTMX)


def test_the_review_shows_an_outline_with_its_examples_table_and_offers_it_as_text(client_logged_in, story):
    job = outline_job(story)
    html = client_logged_in.get(reverse("generation:review", args=[job.pk]), headers=HTMX).content.decode()

    assert (
        '<b class="kw">Examples</b>:\n<span class="table-row">  | quantity | result   |</span>\n'
        '<span class="table-row">  | 50       | accepted |</span>'
    ) in html
    assert '<b class="kw">When</b> they add <span class="ph">&lt;quantity&gt;</span> items' in html
    assert 'rows="8"' in html and 'wrap="off"' in html  # edited as text, every line shown, rows unwrapped
    assert "| 51       | refused  |</textarea>" in html
    assert "Scenario Outline" in html


def test_a_row_added_by_hand_is_saved_as_an_outline_with_the_table_aligned(client_logged_in, story):
    job = outline_job(story)
    data = review_data(job, **{"case-0-sc-0-steps": OUTLINE_STEPS + "\n|0|refused|"})
    response = save(client_logged_in, job, data)

    assert response.status_code == 200 and TestCase.objects.count() == 1
    scenario = Scenario.objects.get(name="Cart limit")
    assert scenario.steps.endswith("| 51       | refused  |\n| 0        | refused  |")
    assert "Scenario Outline: Cart limit" in feature_text("Cart", [ScenarioText(scenario.name, scenario.steps)])


def test_a_broken_examples_table_is_refused_with_a_clear_error_and_the_edit_kept(client_logged_in, story):
    job = outline_job(story)
    broken = OUTLINE_STEPS.replace("| 51       | refused  |", "| 51 |")
    response = save(client_logged_in, job, review_data(job, **{"case-0-sc-0-steps": broken}))
    html = response.content.decode()

    assert (
        "Step line 7: this table row has 1 cell and the table&#x27;s first row 2: give every row one value per column."
        in html
    )
    assert 'data-focus="id_case-0-sc-0-steps">Test case 1 · Scenario 1 · Steps</a>' in html
    assert "| 51 |</textarea>" in html  # what was typed is still there to fix
    assert toasts(response)[0]["message"] == "1 problem to fix before saving; nothing was saved."
    assert not TestCase.objects.exists()


def test_a_placeholder_missing_from_the_table_is_refused(client_logged_in, story):
    job = outline_job(story)
    steps = OUTLINE_STEPS.replace("Then the cart is <result>", "Then the cart is <result>\nAnd the total is <total>")
    html = save(client_logged_in, job, review_data(job, **{"case-0-sc-0-steps": steps})).content.decode()

    assert (
        "Step line 4 uses &lt;total&gt;, which is not a column of the Examples table (its columns: quantity, result)."
        in html
    )
    assert not TestCase.objects.exists()
