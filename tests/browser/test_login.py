"""Real Chromium against the real ASGI server: logging in and seeing the stories table."""

import re

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_anonymous_visit_redirects_to_login(page, live_server_url):
    page.goto("/stories/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/stories/$"))
    expect(page.get_by_role("heading", name="Log in to QAForge")).to_be_visible()


def test_log_in_through_the_form_and_see_the_stories_table(page, browser_user):
    project = factories.make_project(key="SHOP", name="Web shop")
    factories.make_story(project=project, key="SHOP-1", title="Pay with a saved card")
    factories.make_story(project=project, key="SHOP-2", title="Track a parcel")

    page.goto("/stories/")
    page.get_by_label("Username").fill(browser_user.username)
    page.get_by_label("Password").fill(browser_user.raw_password)
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(re.compile(r"/stories/$"))
    rows = page.locator("table.story-table tr.story-row")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("SHOP-1")
    expect(rows.first).to_contain_text("Pay with a saved card")
    expect(page.locator(".user-menu summary")).to_have_text(browser_user.username)
    screenshot(page, "login-stories-table")


def test_wrong_password_stays_on_the_login_page(page, browser_user):
    page.goto("/login/")
    page.get_by_label("Username").fill(browser_user.username)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username and password")
