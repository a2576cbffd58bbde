"""Export in real Chromium: a project from the stories page as a zip that opens, selected rows as Xray CSV."""

import zipfile

import pytest
from gherkin.parser import Parser
from gherkin.token_scanner import TokenScanner
from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def shop(browser_user):
    project = factories.make_project(key="SHOP", name="Web shop")  # browser_user is one of its editors
    for key, title in [("SHOP-12", "Add items to the cart"), ("SHOP-2", "Pay with a saved card")]:
        story = factories.make_story(project=project, key=key, title=title)
        factories.make_test_case(story, scenarios=2, title=f"{title}: happy path")
    return project


def test_export_a_project_from_the_stories_page_and_open_the_zip(logged_in_page, shop, tmp_path):
    page = logged_in_page
    page.goto("/stories/?project=SHOP")
    screenshot(page, "export-table-1280")

    page.get_by_role("button", name="Export project SHOP").click()
    dialog = page.locator("dialog.export-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".export-scope")).to_contain_text("2 test cases in 2 stories")
    expect(dialog.get_by_label("Cucumber .feature files")).to_be_checked()
    screenshot(page, "export-dialog-1280")

    with page.expect_download() as info:
        dialog.get_by_role("button", name="Download").click()
    download = info.value
    assert download.suggested_filename == "SHOP-features.zip"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert [name.split("/")[0] for name in names] == ["SHOP-2", "SHOP-12"]
        features = [Parser().parse(TokenScanner(archive.read(name).decode("utf-8")))["feature"] for name in names]
    assert [f["name"] for f in features] == ["Pay with a saved card: happy path", "Add items to the cart: happy path"]
    expect(page.locator("dialog.export-dialog")).to_have_count(0)  # closed and removed once the download started


def test_export_selected_rows_as_xray_csv_for_excel(logged_in_page, shop, tmp_path):
    page = logged_in_page
    page.goto("/stories/")
    page.get_by_label("Select SHOP-12").check()
    page.get_by_role("button", name="Export selected").click()

    dialog = page.locator("dialog.export-dialog")
    expect(dialog.locator(".export-scope")).to_contain_text("SHOP-12: 1 test case in 1 story")
    dialog.get_by_label("Xray CSV").check()
    dialog.get_by_label("For Excel").check()
    with page.expect_download() as info:
        dialog.get_by_role("button", name="Download").click()
    path = tmp_path / "xray.csv"
    info.value.save_as(path)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfTest ID,Summary,")
    assert data.count(b"\r\n") == 3  # header and one row per scenario


def test_export_dialog_on_a_phone(logged_in_page, shop):
    page = logged_in_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/stories/?project=SHOP")
    screenshot(page, "export-table-390")
    page.get_by_role("button", name="Export project SHOP").click()
    dialog = page.locator("dialog.export-dialog")
    expect(dialog).to_be_visible()
    box = dialog.locator("article").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    expect(dialog.get_by_role("button", name="Download")).to_be_in_viewport()
    screenshot(page, "export-dialog-390")

    page.goto("/stories/SHOP-12/")
    page.get_by_role("button", name="Export").click()
    expect(page.locator("dialog.export-dialog .export-scope")).to_contain_text("SHOP-12: 1 test case in 1 story")
    screenshot(page, "export-story-390")


def test_bring_an_edited_feature_back_from_the_import_page(logged_in_page, shop, tmp_path):
    from stories.models import TestCase

    page = logged_in_page
    test_case = TestCase.objects.get(story__key="SHOP-12")
    text = test_case.feature_text()
    broken = tmp_path / "cart.feature"
    broken.write_text(text.replace("    When they", "    they", 1), encoding="utf-8")
    page.goto("/stories/import/")
    page.get_by_role("link", name="Import test cases").click()
    page.get_by_label("File").set_input_files(str(broken))
    page.get_by_role("button", name="Import test cases").click()
    expect(page.locator(".import-errors li")).to_contain_text("cart.feature:")
    screenshot(page, "import-tests-error-1280")

    fixed = tmp_path / "cart-fixed.feature"
    fixed.write_text(text.replace("Feature: Add items to the cart: happy path", "Feature: Cart happy path"), "utf-8")
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_label("File").set_input_files(str(fixed))
    page.get_by_role("button", name="Import test cases").click()
    expect(page.locator("#toasts")).to_contain_text("updated 1 test case")
    screenshot(page, "import-tests-done-390")
    test_case.refresh_from_db()
    assert test_case.title == "Cart happy path"
