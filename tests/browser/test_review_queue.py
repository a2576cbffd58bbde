"""The review queue in real Chromium: "N stories ready to review" opens the first, Next walks on, *Save and next*
saves and opens the following story, and the page's badges and count follow."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from stories.models import TestCase
from tests import factories
from tests.browser.conftest import screenshot
from tests.generation.test_views import ready_job

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.mark.parametrize("width", [1280, 390])
def test_walk_the_review_queue_with_next_and_save_and_next(logged_in_page, browser_user, width):
    from stories import permissions
    from stories.models import Role

    project = factories.make_project(key="SHOP", name="Web shop")
    permissions.grant(browser_user, project, Role.EDITOR)
    jobs = {
        key: ready_job(factories.make_story(project=project, key=key), suggestions=2)
        for key in ["SHOP-10", "SHOP-2", "SHOP-9"]
    }
    page = logged_in_page
    page.set_viewport_size({"width": width, "height": 900})
    page.goto("/stories/")
    queue_button = page.get_by_role("button", name="3 stories ready to review")
    queue_button.click()
    dialog = page.locator("dialog.review-dialog[open]")
    expect(dialog).to_have_attribute("aria-label", "Review tests for SHOP-2")
    expect(dialog.locator(".review-queue-nav")).to_contain_text("1 of 3 ready to review")
    screenshot(page, f"review-queue-1-first-{width}")

    dialog.get_by_role("link", name="Next →").click()
    expect(dialog).to_have_attribute("aria-label", "Review tests for SHOP-9")
    expect(page.locator("dialog")).to_have_count(1)
    dialog.get_by_role("button", name="Save and next →").click()
    expect(dialog).to_have_attribute("aria-label", "Review tests for SHOP-10")
    expect(dialog.locator(".review-queue-nav")).to_contain_text("2 of 2 ready to review")  # SHOP-2 still waits
    expect(dialog.locator(".saved-note")).to_have_text("✓ Saved 2 test cases to SHOP-9.")
    expect(page.locator(f"#story-{jobs['SHOP-9'].story_id}-badge")).to_have_text("2 test cases")
    expect(page.get_by_role("button", name="2 stories ready to review")).to_be_visible()
    screenshot(page, f"review-queue-2-saved-and-next-{width}")
    assert TestCase.objects.filter(story=jobs["SHOP-9"].story).count() == 2
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
