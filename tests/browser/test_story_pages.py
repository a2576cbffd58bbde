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
    rows = page.locator("table.story-table tr.story-row")
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
    factories.make_project(key="SHOP", name="Web shop")  # the lead edits it: they may add stories
    page.goto("/stories/new/")
    page.evaluate("window.notReloaded = true")
    page.get_by_label("Key").fill("SHOP-77")
    page.get_by_role("button", name="Create story").click()

    expect(page.locator("#id_title_error")).to_have_text("This field is required.")
    assert page.evaluate("window.notReloaded") is True  # htmx swapped the form in place
    screenshot(page, "story-form-inline-error")

    page.get_by_label("Title").fill("Keep a wish list")
    page.get_by_label("Acceptance criteria").fill("Items can be saved\n\nThe list survives a logout")
    page.get_by_role("button", name="Create story").click()

    expect(page).to_have_url(re.compile(r"/stories/SHOP-77/$"))
    expect(page.locator("#toasts .toast-success")).to_contain_text("Story SHOP-77 created.")
    expect(page.locator("ol.acceptance-criteria li")).to_have_count(2)
    assert UserStory.objects.get(key="SHOP-77").acceptance_criteria[1] == "The list survives a logout"


@pytest.mark.parametrize("width", [1280, 390])
def test_story_form_warns_beside_the_key_while_it_is_typed_and_still_saves(logged_in_page, width):
    page = logged_in_page
    page.set_viewport_size({"width": width, "height": 900})
    factories.make_project(key="SHOP", name="Web shop")
    page.goto("/stories/new/?project=SHOP")
    key = page.get_by_label("Key")
    warning = page.locator("#key-warning")

    key.press_sequentially("web-4")
    expect(warning).to_contain_text("WEB-4 does not start with SHOP-, the project's key")
    expect(key).to_be_focused()  # the warning arrives beside the field; typing goes on
    screenshot(page, f"story-form-key-warning-{width}")
    box, field = warning.bounding_box(), key.bounding_box()
    assert box["y"] >= field["y"] + field["height"] - 1 and box["x"] == pytest.approx(field["x"], abs=2)

    key.fill("SHOP-4")
    expect(warning).to_be_empty()
    page.get_by_label("Project").select_option(label="— no project —")
    key.fill("web-4")
    page.wait_for_timeout(600)  # past the warning's delay: with no project there is nothing to warn about
    expect(warning).to_be_empty()
    page.get_by_label("Project").select_option(label="SHOP — Web shop")
    expect(warning).to_contain_text("does not start with SHOP-")

    page.get_by_label("Title").fill("Pay by voucher")
    page.get_by_role("button", name="Create story").click()  # a warning, not an error: the save goes through
    expect(page).to_have_url(re.compile(r"/stories/WEB-4/$"))
    expect(page.locator("#toasts .toast-success")).to_contain_text("Story WEB-4 created.")
    expect(page.locator("#toasts .toast-warning")).to_have_count(0)  # said once, beside the key
    assert UserStory.objects.get(key="WEB-4").project.key == "SHOP"

    page.goto("/stories/WEB-4/edit/")
    expect(page.locator("#key-warning")).to_contain_text("WEB-4 does not start with SHOP-")
    screenshot(page, f"story-form-key-warning-edit-{width}")


def test_server_restart_keeps_the_address(logged_in_page, asgi_server):
    page = logged_in_page
    factories.make_story(key="ST-1", title="Survives a restart")
    page.goto("/stories/")
    first_pid = asgi_server.process.pid
    asgi_server.restart()
    assert asgi_server.process.pid != first_pid
    page.reload()
    expect(page.locator("table.story-table")).to_contain_text("Survives a restart")


def test_test_case_form_adds_scenarios_shows_gherkin_errors_and_deletes_in_place(logged_in_page):
    page = logged_in_page
    story = factories.make_story(key="SHOP-5", title="Guest checkout")
    page.goto(f"/stories/{story.key}/test-cases/new/")
    page.get_by_label("Title").fill("Guest pays")
    page.locator("#id_scenarios-0-name").fill("Pays by card")
    page.locator("#id_scenarios-0-steps").fill("Given a cart\nclick pay")
    page.get_by_role("button", name="Add a scenario").click()  # app.js copies the formset's blank form
    page.locator("#id_scenarios-1-name").fill("Pays by voucher")
    page.locator("#id_scenarios-1-steps").fill("Given a cart\nWhen I pay with a voucher\nThen the order is paid")
    page.get_by_role("button", name="Create test case").click()

    expect(page.locator("#id_scenarios-0-steps_error")).to_contain_text("'click pay' is not a Gherkin step")
    expect(page.locator("#id_scenarios-1-name")).to_have_value("Pays by voucher")  # kept across the re-render
    page.locator("#id_scenarios-0-steps").fill("Given a cart\nWhen I pay by card\nThen the order is paid")
    page.get_by_role("button", name="Create test case").click()

    expect(page).to_have_url(re.compile(r"/stories/SHOP-5/#test-case-\d+$"))
    expect(page.locator("pre.gherkin")).to_have_count(2)
    expect(page.locator("pre.gherkin b.kw", has_text="Then")).to_have_count(2)
    screenshot(page, "test-case-created")

    page.once("dialog", lambda dialog: dialog.accept())  # hx-confirm
    page.locator(".test-case").get_by_role("link", name="Delete").click()
    expect(page.locator(".test-case")).to_have_count(0)
    expect(page.locator("#test-case-count")).to_have_text("(0)")
    expect(page.locator("#toasts .toast-success").last).to_contain_text("Test case “Guest pays” deleted.")
