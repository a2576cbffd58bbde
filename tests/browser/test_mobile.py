"""The stories page and its dialogs on a phone (390 px wide) and a laptop (1280 px) in real Chromium: nothing
scrolls sideways, the table becomes cards, the header's menu stays on screen, dialogs fit and nothing shows below
their footer."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from generation.models import GenerationJob, JobStatus, SuggestedTestCase
from tests import factories
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 900}
STEPS = "Given a shopper with a full cart\nWhen they pay by card\nThen the order is confirmed"


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def within_viewport(page, locator) -> bool:
    box = locator.bounding_box()
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"]


@pytest.fixture
def busy_backlog(db):
    """A backlog in every state a row can show: counts, generating, ready (with suggestions), failed."""
    project = factories.make_project(key="SHOP", name="Web shop")
    stories = [
        factories.make_story(project=project, key=f"SHOP-{n}", title=title)
        for n, title in enumerate(
            [
                "Pay with a saved card in one click from the basket",
                "Track a parcel",
                "Apply a voucher at checkout, including the ones that expired yesterday",
                "Guest checkout",
            ],
            start=1,
        )
    ]
    factories.make_test_case(stories[0])
    now = timezone.now()
    GenerationJob.objects.create(story=stories[1], status=JobStatus.RUNNING, progress=40, phase="Batch 2 of 5")
    ready = GenerationJob.objects.create(story=stories[2], status=JobStatus.READY, progress=100, finished_at=now)
    for n in range(6):
        SuggestedTestCase.objects.create(
            job=ready,
            position=n,
            title=f"Suggested case {n + 1} with a title long enough to wrap on a phone",
            test_type="FUNCTIONAL",
            priority="MEDIUM",
            scenarios=[{"name": f"Scenario {n + 1}", "steps": STEPS, "tags": []}],
        )
    GenerationJob.objects.create(story=stories[3], status=JobStatus.FAILED, error="Quota exceeded", finished_at=now)
    return stories


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["390", "1280"])
def test_stories_page_fits_the_screen(logged_in_page, busy_backlog, viewport):
    page = logged_in_page
    page.set_viewport_size(viewport)
    page.goto("/stories/")
    expect(page.locator(f"#story-{busy_backlog[1].pk}-badge")).to_have_attribute("data-state", "running")
    screenshot(page, f"mobile-stories-{viewport['width']}")
    assert no_sideways_scroll(page)
    # Every row's status and actions are on screen, without scrolling sideways.
    for story in busy_backlog:
        assert within_viewport(page, page.locator(f"#story-{story.pk}-badge")), story.key
        assert within_viewport(page, page.get_by_role("link", name=f"Generate tests for {story.key}")), story.key
    # The user menu and Log out are reachable.
    page.locator(".user-menu summary").click()
    logout = page.get_by_role("button", name="Log out")
    expect(logout).to_be_visible()
    assert within_viewport(page, logout)
    screenshot(page, f"mobile-user-menu-{viewport['width']}")


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["390", "1280"])
def test_review_and_generate_dialogs_fit_and_nothing_shows_below_the_footer(logged_in_page, busy_backlog, viewport):
    page = logged_in_page
    page.set_viewport_size(viewport)
    page.goto("/stories/")
    page.get_by_role("link", name="Ready to review").click()
    dialog = page.locator("dialog.review-dialog[open]")
    expect(dialog).to_be_visible()
    article = dialog.locator(":scope > article")
    footer = dialog.locator("footer.dialog-actions")
    assert within_viewport(page, article)
    assert no_sideways_scroll(page)
    # Scrolled half-way, the sticky footer is the last thing in the dialog's box: no suggestion peeks out below it.
    article.evaluate("a => { a.scrollTop = a.scrollHeight / 2; }")
    a_box, f_box = article.bounding_box(), footer.bounding_box()
    assert f_box["y"] + f_box["height"] >= a_box["y"] + a_box["height"] - 1
    save = footer.get_by_role("button", name="Save 6")  # the review's Save button counts the kept test cases
    expect(save).to_be_visible()
    assert within_viewport(page, save)
    screenshot(page, f"mobile-review-{viewport['width']}")
    footer.get_by_role("button", name="Close").click()
    expect(page.locator("dialog")).to_have_count(0)

    page.get_by_role("link", name=f"Generate tests for {busy_backlog[0].key}").click()
    dialog = page.locator("dialog.generate-dialog[open]")
    expect(dialog).to_be_visible()
    assert within_viewport(page, dialog.locator(":scope > article"))
    assert within_viewport(page, dialog.get_by_role("button", name="Queue generation"))
    screenshot(page, f"mobile-generate-{viewport['width']}")
