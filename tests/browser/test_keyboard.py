"""The stories page from the keyboard in real Chromium: shortcuts ("/", "g", "?"), a visible focus ring, and the
focus coming back where it was when a dialog closes."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def focused(page) -> str:
    return page.evaluate("document.activeElement?.getAttribute('aria-label') || document.activeElement?.id || ''")


def test_shortcuts_focus_ring_and_focus_returning_after_a_dialog(logged_in_page):
    project = factories.make_project(key="SHOP", name="Web shop")
    for n in (1, 2):
        factories.make_story(project=project, key=f"SHOP-{n}", title=f"Story {n}")
    page = logged_in_page
    page.goto("/stories/")

    page.keyboard.press("/")
    assert focused(page) == "Search key or title"
    page.keyboard.press("Escape")
    page.locator("body").focus()

    # Tab to a row's "Generate tests", open it with Enter, close with Escape: the focus is back on that link.
    link = page.get_by_role("link", name="Generate tests for SHOP-2")
    link.focus()
    outline = link.evaluate("e => getComputedStyle(e).outlineStyle")
    assert outline != "none"  # the focus ring shows
    screenshot(page, "keyboard-focus-ring-1280")
    page.keyboard.press("Enter")
    dialog = page.locator("dialog.generate-dialog[open]")
    expect(dialog).to_be_visible()
    # The modal dialog keeps Tab inside it.
    for _ in range(12):
        page.keyboard.press("Tab")
        assert page.evaluate(
            "!!document.activeElement.closest('dialog[open]') || document.activeElement === document.body"
        )
    page.keyboard.press("Escape")
    expect(page.locator("dialog[open]")).to_have_count(0)
    page.wait_for_function("document.activeElement?.getAttribute('aria-label') === 'Generate tests for SHOP-2'")

    # Space selects a row, "g" generates for the selection.
    page.get_by_label("Select SHOP-1").focus()
    page.keyboard.press("Space")
    page.keyboard.press("g")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".generate-for")).to_contain_text("SHOP-1")
    page.keyboard.press("Escape")
    expect(page.locator("dialog[open]")).to_have_count(0)

    # "?" lists the shortcuts.
    page.keyboard.press("?")
    help_dialog = page.locator("dialog.shortcuts-help[open]")
    expect(help_dialog).to_contain_text("Generate for the selected stories")
    screenshot(page, "keyboard-shortcuts-help-1280")
    page.keyboard.press("Escape")
    expect(help_dialog).to_have_count(0)
