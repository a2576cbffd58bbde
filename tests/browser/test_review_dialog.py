"""The review dialog in real Chromium: a failed save focuses the first error under a summary at the top of the
visible dialog, Close/Escape with edits asks first, deletes can be undone, and the coverage strip shows the gaps."""

import pytest
from playwright.sync_api import expect

from generation.models import GenerationJob, JobStatus, SuggestedTestCase
from stories.models import TestCase
from tests import factories
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CRITERIA = [
    "A shopper can add an item to the cart",
    "The cart holds at most 50 items",
    "Removing the last item empties the cart",
]


def steps(n: int) -> str:
    return f"Given a shopper with {n} items in the cart\nWhen they add one more item\nThen the cart shows {n + 1} items"


def ready_review(cases: int = 3, scenarios: int = 2, cites=((1,), (2,), (1,))) -> GenerationJob:
    """A story with three criteria and a job ready to review whose cases cite `cites` (AC-3 is left uncovered)."""
    story = factories.make_story(
        project=factories.make_project(key="SHOP"), key="SHOP-3", title="Cart limits", acceptance_criteria=CRITERIA
    )
    job = GenerationJob.objects.create(
        story=story, status=JobStatus.READY, progress=100, generator="offline", test_cases=cases
    )
    for i in range(cases):
        SuggestedTestCase.objects.create(
            job=job,
            position=i,
            title=f"Cart case {i + 1}",
            objective="Check the cart.",
            scenarios=[
                {"name": f"Case {i + 1} scenario {k + 1}", "steps": steps(10 * i + k), "criteria": list(cites[i])}
                for k in range(scenarios)
            ],
        )
    return job


def open_review(page, job):
    page.goto(f"/stories/{job.story.key}/")
    page.locator(f"#story-{job.story.pk}-badge").get_by_role("link", name="Ready to review").click()
    dialog = page.locator("dialog.review-dialog[open]")
    expect(dialog).to_be_visible()
    return dialog


def test_a_failed_save_focuses_the_first_error_under_a_summary(logged_in_page):
    page = logged_in_page
    dialog = open_review(page, ready_review())
    cards = dialog.locator("article.suggestion")
    cards.nth(2).get_by_label("Title").fill("")  # far down the dialog
    cards.nth(1).locator("details.edit-steps summary").first.click()
    cards.nth(1).locator("textarea").first.fill("Given a cart\nclick the button")
    dialog.get_by_role("button", name="Save 3").click()

    summary = dialog.locator("#review-errors")
    expect(summary).to_contain_text("2 problems to fix before saving")
    first_error = dialog.locator("#id_case-1-sc-0-steps")
    expect(first_error).to_be_focused()
    expect(first_error).to_be_in_viewport()
    expect(summary).to_be_in_viewport()  # sticky at the top of the visible part of the dialog
    expect(dialog.locator(".dialog-toasts .toast-error")).to_contain_text("2 problems to fix")  # above the dialog
    screenshot(page, "review-failed-save-1280")
    assert not TestCase.objects.exists()

    summary.get_by_role("link", name="Test case 3 · Title").click()
    expect(dialog.locator("#id_case-2-title")).to_be_focused()
    page.set_viewport_size({"width": 390, "height": 844})
    expect(summary).to_be_in_viewport()
    screenshot(page, "review-failed-save-390")


def test_escape_with_edits_asks_first_and_keeps_them(logged_in_page):
    page = logged_in_page
    job = ready_review()
    dialog = open_review(page, job)
    page.keyboard.press("Escape")  # nothing edited: closes at once
    expect(page.locator("dialog.review-dialog")).to_have_count(0)

    dialog = open_review(page, job)
    title = dialog.locator("article.suggestion").first.get_by_label("Title")
    title.fill("A title I typed")
    page.keyboard.press("Escape")
    ask = dialog.locator(".unsaved-confirm")
    expect(ask).to_contain_text("You have unsaved edits in this review.")
    expect(ask.get_by_role("button", name="Keep editing")).to_be_focused()
    screenshot(page, "review-unsaved-edits-asks")
    ask.get_by_role("button", name="Keep editing").click()
    expect(dialog).to_be_visible()
    expect(title).to_have_value("A title I typed")

    dialog.get_by_role("button", name="Close", exact=True).click()  # the Close button asks too
    expect(ask).to_be_visible()
    ask.get_by_role("button", name="Close without saving").click()
    expect(page.locator("dialog.review-dialog")).to_have_count(0)
    assert GenerationJob.objects.get(pk=job.pk).status == JobStatus.READY


def test_deleting_can_be_undone_and_discard_asks_first(logged_in_page):
    page = logged_in_page
    job = ready_review()
    dialog = open_review(page, job)
    counts = dialog.locator(".review-counts")
    expect(counts).to_contain_text("3 of 3 suggested test cases kept")
    card = dialog.locator("article.suggestion").nth(1)
    card.get_by_label("Delete").check()
    expect(card.locator(".deleted-bar")).to_contain_text("will not be saved")
    expect(counts).to_contain_text("2 of 3 suggested test cases kept")
    expect(dialog.get_by_role("button", name="Save 2")).to_be_visible()
    card.get_by_role("button", name="Undo").click()
    expect(counts).to_contain_text("3 of 3 suggested test cases kept")
    expect(card.get_by_label("Title")).to_be_visible()

    page.once("dialog", lambda confirm: confirm.dismiss())
    dialog.get_by_role("button", name="Discard").click()
    expect(dialog).to_be_visible()
    assert GenerationJob.objects.get(pk=job.pk).status == JobStatus.READY


def test_the_coverage_strip_shows_gaps_and_follows_deletions(logged_in_page):
    page = logged_in_page
    dialog = open_review(page, ready_review())
    strip = dialog.locator(".coverage-strip")
    expect(strip).to_contain_text("2 of 3 acceptance criteria covered")
    gap = strip.locator("[data-criterion='3']")
    expect(gap).to_have_class("criterion uncovered")
    expect(gap.get_by_role("button", name="Generate for this criterion")).to_be_visible()
    expect(strip.locator("[data-criterion='1'] .generate-criterion")).to_be_hidden()
    screenshot(page, "review-coverage-gap-1280")

    dialog.locator("article.suggestion").nth(1).get_by_label("Delete").check()  # the only case citing AC-2
    expect(strip.locator("[data-criterion='2']")).to_contain_text("not covered")
    expect(strip).to_contain_text("1 of 3 acceptance criteria covered")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "review-coverage-gap-390")
    dialog.locator("article.suggestion").nth(1).get_by_role("button", name="Undo").click()
    expect(strip.locator("[data-criterion='2']")).to_contain_text("2 scenarios")
