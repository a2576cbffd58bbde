"""A Scenario Outline in real Chromium: the offline generator's boundary outline shows in the review with its
Examples table aligned, the table is edited as text, a broken row is refused where it was typed, and the saved test
case shows the outline on the story page."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import expect

from generation import jobs
from stories.models import Scenario
from tests import factories
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def generated_review(user):
    """A story whose one criterion states a limit, and an offline job ready to review: a happy path and the
    boundary values of "at most 50 items" (a Scenario Outline, then the rejected value on its own)."""
    story = factories.make_story(
        project=factories.make_project(key="SHOP"),
        key="SHOP-7",
        title="Add items to the cart",
        description="As a shopper I want to add items to my cart so that I can buy them later.",
        acceptance_criteria=["The cart holds at most 50 items"],
    )
    job, _ = jobs.queue_generation(
        story, user=user, enqueue=False, test_cases=2, scenarios_per_test=2, test_types=["FUNCTIONAL"]
    )
    # Playwright's event loop runs in this thread, and a job runs its own asyncio.run: run the job beside it.
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(jobs.run_job, job.pk).result() == "ready"
    return story


def table_lines(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if line.strip().startswith("|")]


@pytest.mark.parametrize("width", [1280, 390])
def test_an_outline_is_reviewed_with_its_examples_table_and_saved(logged_in_page, browser_user, width):
    page = logged_in_page
    page.set_viewport_size({"width": width, "height": 900})
    story = generated_review(browser_user)

    page.goto(f"/stories/{story.key}/")
    page.locator(f"#story-{story.pk}-badge").get_by_role("link", name="Ready to review").click()
    dialog = page.locator("dialog.review-dialog[open]")
    outline = dialog.locator("[data-scenario]").filter(has_text="Scenario Outline: one run per row")
    expect(outline).to_have_count(1)
    shown = outline.locator("pre.gherkin")
    expect(shown).to_contain_text("When the shopper adds items to their cart with <value> items")
    lines = table_lines(shown.inner_text())
    assert lines == [
        "| value | edge         | outcome  |",
        "| 50    | at the limit | accepted |",
        "| 49    | just inside  | accepted |",
        "| 51    | just outside | rejected |",
    ]
    assert outline.locator("pre.gherkin").evaluate("e => getComputedStyle(e).fontFamily").find("mono") >= 0
    outline.scroll_into_view_if_needed()
    screenshot(page, f"review-outline-{width}")

    # The table is text in the steps: a row with a cell missing is refused, where it was typed.
    outline.locator("details.edit-steps summary").click()
    steps = outline.locator("textarea")
    typed = steps.input_value()
    steps.fill(typed + "\n| 52 | just outside |")
    dialog.get_by_role("button", name="Save 2").click()
    expect(dialog.locator("#review-errors")).to_contain_text("1 problem to fix before saving")
    broken = dialog.locator("[data-scenario]").filter(has_text="Scenario Outline: one run per row")
    expect(broken).to_contain_text(
        "Step line 9: this table row has 2 cells and the table's first row 3: give every row one value per column."
    )
    expect(broken.locator("textarea")).to_be_focused()
    expect(broken.locator("textarea")).to_have_value(typed + "\n| 52 | just outside |")
    screenshot(page, f"review-outline-broken-row-{width}")

    broken.locator("textarea").fill(typed + "\n|52|just outside|rejected|")
    dialog.get_by_role("button", name="Save 2").click()
    expect(page.locator("dialog.review-dialog[open]")).to_have_count(0)
    saved = Scenario.objects.get(steps__contains="Examples:")
    assert table_lines(saved.steps)[-1] == "| 52    | just outside | rejected |"

    page.goto(f"/stories/{story.key}/")
    card = page.locator("pre.gherkin").filter(has_text="Scenario Outline:")
    expect(card).to_contain_text(f"Scenario Outline: {saved.name}")
    assert table_lines(card.inner_text())[-1] == "| 52    | just outside | rejected |"
    card.scroll_into_view_if_needed()
    screenshot(page, f"story-outline-{width}")
