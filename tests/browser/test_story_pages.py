"""The stories pages in real Chromium: htmx search-as-you-type and an htmx form with inline errors and a toast."""

import re

import pytest
from playwright.sync_api import expect

from stories.models import UserStory
from tests import factories
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_search_as_you_type_filters_the_table_without_reloading(logged_in_page):
    page = logged_in_page
    project = factories.make_project(key="SHOP", name="Web shop")
    factories.make_story(project=project, key="SHOP-1", title="Pay with a saved card")
    factories.make_story(project=project, key="SHOP-2", title="Track a parcel")
    page.goto("/stories/")
    page.evaluate("window.notReloaded = true")

    page.get_by_label("Search key or title").press_sequentially("parcel")
    rows = page.locator("table.story-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Track a parcel")
    expect(page).to_have_url(re.compile(r"\?q=parcel"))
    assert page.evaluate("window.notReloaded") is True

    page.get_by_label("Search key or title").fill("nothing like it")
    expect(page.get_by_text("No stories match these filters.")).to_be_visible()
    page.get_by_role("link", name="Clear filters").click()
    expect(rows).to_have_count(2)


def test_story_form_shows_errors_inline_then_saves_with_a_toast(logged_in_page):
    page = logged_in_page
    page.goto("/stories/new/")
    page.evaluate("window.notReloaded = true")
    page.get_by_label("Key").fill("SHOP-77")
    page.get_by_role("button", name="Create story").click()

    expect(page.locator("#id_title_error")).to_have_text("This field is required.")
    assert page.evaluate("window.notReloaded") is True  # htmx swapped the form in place
    screenshot(page, "story-form-inline-error")

    page.get_by_label("Title").fill("Keep a wish list")
    page.get_by_label("Acceptance criteria").fill("Items can be saved\nThe list survives a logout")
    page.get_by_role("button", name="Create story").click()

    expect(page).to_have_url(re.compile(r"/stories/SHOP-77/$"))
    expect(page.locator("#toasts .toast-success")).to_contain_text("Story SHOP-77 created.")
    expect(page.locator("ol.acceptance-criteria li")).to_have_count(2)
    assert UserStory.objects.get(key="SHOP-77").acceptance_criteria[1] == "The list survives a logout"


def test_server_restart_keeps_the_address(logged_in_page, asgi_server):
    page = logged_in_page
    factories.make_story(key="ST-1", title="Survives a restart")
    page.goto("/stories/")
    first_pid = asgi_server.process.pid
    asgi_server.restart()
    assert asgi_server.process.pid != first_pid
    page.reload()
    expect(page.locator("table.story-table")).to_contain_text("Survives a restart")
