"""The members page in real Chromium at 390 and 1280 px: an owner adds a member and changes a role."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from stories import permissions
from stories.models import Membership, Role
from tests import factories
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.mark.parametrize("width", [390, 1280])
def test_an_owner_adds_a_member_and_changes_a_role(logged_in_page, browser_user, width):
    page = logged_in_page
    page.set_viewport_size({"width": width, "height": 900})
    project = factories.make_project(key="SHOP", name="Web shop")
    permissions.grant(browser_user, project, Role.OWNER)
    factories.make_user("nina")

    page.goto("/stories/projects/SHOP/members/")
    page.locator("#id_username").fill("nina")
    page.locator("#id_role").select_option("editor")
    page.get_by_role("button", name="Add").click()
    expect(page.locator("#toasts")).to_contain_text("nina is now editor of SHOP.")
    page.get_by_label("Role of nina").select_option("viewer")
    page.locator("tr", has_text="nina").get_by_role("button", name="Save").click()
    expect(page.locator("#toasts")).to_contain_text("nina is now viewer of SHOP.")
    assert Membership.objects.get(user__username="nina").role == Role.VIEWER
    page.wait_for_function("document.getAnimations().length === 0")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"members-{width}")
