"""History in real Chromium: edit a scenario, read the Gherkin diff, delete the test case and restore it, at
390 and 1280 px."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from stories.models import TestCase
from tests import factories
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def no_sideways_scroll(page) -> bool:
    page.wait_for_function("document.getAnimations().length === 0")  # a toast slides in from the right edge
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width", [390, 1280])
def test_edit_read_the_diff_delete_and_restore(logged_in_page, width):
    page = logged_in_page
    page.set_viewport_size({"width": width, "height": 900})
    story = factories.make_story(project=factories.make_project(key="SHOP"), key="SHOP-3", title="Pay by card")
    test_case = factories.make_test_case(story, title="Card payment", scenarios=2)

    page.goto(f"/stories/test-cases/{test_case.pk}/edit/")
    page.locator("#id_scenarios-0-steps").fill(
        "Given a shopper with a full cart\nWhen they pay by card\nThen the order is confirmed"
    )
    page.get_by_role("button", name=re.compile("Save")).click()
    expect(page).to_have_url(re.compile(r"/stories/SHOP-3/"))

    page.locator(f"#test-case-{test_case.pk}").get_by_role("link", name="History").click()
    expect(page.locator("h1")).to_contain_text("2 versions")
    expect(page.locator("#version-2 .diff-add", has_text="When they pay by card")).to_have_count(1)
    expect(page.locator("#version-2 .diff-del", has_text="When they add an item to the cart")).to_have_count(1)
    assert no_sideways_scroll(page)
    screenshot(page, f"history-test-case-{width}")

    page.goto(f"/stories/{story.key}/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"#test-case-{test_case.pk}").get_by_role("link", name="Delete").click()
    expect(page.locator(".test-case")).to_have_count(0)
    page.locator(".page-heading").get_by_role("button", name="History").click()
    expect(page.get_by_role("heading", name="Deleted test cases")).to_be_visible()
    assert no_sideways_scroll(page)
    screenshot(page, f"history-story-{width}")

    page.get_by_role("button", name="Restore").click()
    expect(page.locator("#toasts")).to_contain_text("Test case “Card payment” restored.")
    expect(page.locator(f"#test-case-{test_case.pk}")).to_be_visible()
    assert TestCase.objects.get(pk=test_case.pk).scenarios.count() == 2
