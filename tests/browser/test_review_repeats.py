"""Repeats of saved test cases in the review, and the staff generation report, in real Chromium."""

import pytest
from playwright.sync_api import expect

from generation.models import GenerationJob, JobStatus, SuggestedTestCase
from stories.models import Scenario
from tests import factories
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.slow, pytest.mark.browser]

STEPS = "Given a shopper with an empty cart\nWhen they add a book\nThen the cart shows 1 item"
OTHER = "Given a shopper with 50 items in the cart\nWhen they add one more\nThen the cart refuses it"


@pytest.mark.parametrize("width", [1280, 390])
def test_a_suggestion_repeating_a_saved_test_case_is_skipped_until_kept(logged_in_page, width):
    page = logged_in_page
    page.set_viewport_size({"width": width, "height": 900})
    story = factories.make_story(project=factories.make_project(key="SHOP"), key="SHOP-2", title="Cart")
    saved = factories.make_test_case(story, scenarios=0, title="Add a book")
    Scenario.objects.create(test_case=saved, name="Adds a book", steps=STEPS.replace("a book", "the book"))
    job = GenerationJob.objects.create(story=story, status=JobStatus.READY, progress=100, generator="offline")
    for n, steps in enumerate([STEPS, OTHER]):
        SuggestedTestCase.objects.create(
            job=job,
            position=n,
            title=f"Suggested {n + 1}",
            scenarios=[{"name": "S", "steps": steps, "criteria": [1, 2]}],
        )

    page.goto(f"/stories/{story.key}/")
    page.locator(f"#story-{story.pk}-badge").get_by_role("link", name="Ready to review").click()
    dialog = page.locator("dialog.review-dialog[open]")
    first = dialog.locator("article.suggestion").first
    expect(first.locator(".deleted-bar")).to_contain_text(f"Looks like TC-{saved.pk} · Add a book: skipped.")
    expect(dialog.locator(".review-counts")).to_contain_text("1 of 2 suggested test cases kept")
    screenshot(page, f"review-repeat-skipped-{width}")
    first.get_by_role("button", name="Keep it").click()
    expect(first.locator(".case-body .duplicate-note").first).to_contain_text("already saved; kept anyway")
    expect(dialog.locator(".review-counts")).to_contain_text("2 of 2 suggested test cases kept")


def test_staff_read_the_generation_report(logged_in_page, browser_user):
    page = logged_in_page
    story = factories.make_story(project=factories.make_project(key="SHOP"), key="SHOP-1")
    outcomes = [
        ("v1", {"suggested": 5, "unchanged": 1, "edited": 2, "deleted": 2}),
        ("v2", {"suggested": 5, "unchanged": 4, "edited": 1, "deleted": 0}),
    ]
    for version, outcome in outcomes:
        GenerationJob.objects.create(
            story=story,
            status=JobStatus.SAVED,
            generator="gemini",
            model="gemini-2.5-flash",
            prompt_version=version,
            review_outcome=outcome,
            got={"test_cases": 5},
            token_usage={"total": 3000},
        )
    assert page.goto("/generation/report/").status == 403  # the lead is not staff
    browser_user.is_staff = True
    browser_user.save()
    page.goto("/generation/report/")
    rows = page.locator("table.report-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("v2")
    expect(rows.first).to_contain_text("80%")
    screenshot(page, "generation-report-1280")
