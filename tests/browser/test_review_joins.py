"""Suggestions that join an open review, in real Chromium with a real qcluster: "Generate for this criterion" queues
a small job, and when it ends its suggestions appear in the dialog that is still open (through the page's one live
stream), after the lead's own test cases, without touching what the lead typed or deleted, with the focus left where
it was and the coverage strip following."""

import re

import pytest
from playwright.sync_api import expect

from stories.models import TestCase
from tests import factories
from tests.browser.conftest import screenshot
from tests.browser.test_live_generation import RECORDER
from tests.browser.test_review_dialog import open_review, ready_review
from tests.cluster import module_cluster
from tests.fake_gemini import start_fake_gemini

pytestmark = [pytest.mark.slow, pytest.mark.browser]

JOB_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def fake():
    server = start_fake_gemini(latency=2.0)  # each model call takes 2 s: long enough to edit while the job runs
    yield server
    server.stop()


cluster = module_cluster(
    GEMINI_API_KEY="test-key-not-secret", QAFORGE_RETRY_BASE_SECONDS="0.01", QAFORGE_LLM_TIMEOUT_SECONDS="10"
)


@pytest.mark.parametrize("width", [1280, 390])
def test_suggestions_for_a_criterion_join_the_open_review_without_losing_edits(logged_in_page, cluster, fake, width):
    fake.reset()
    page = logged_in_page
    page.set_viewport_size({"width": width, "height": 900})
    page.add_init_script(RECORDER)  # counts the EventSource connections: the page keeps its one stream
    job = ready_review()  # three test cases citing AC-1, AC-2, AC-1: AC-3 is a gap
    dialog = open_review(page, job)
    cards = dialog.locator("article.suggestion")
    expect(dialog.locator(".coverage-summary")).to_contain_text("2 of 3 acceptance criteria covered")

    # The lead's unsaved work: a new title, and the second test case deleted (undo possible until saved).
    title = cards.nth(0).get_by_label("Title")
    title.fill("Add one item to an empty cart")
    cards.nth(1).get_by_label("Delete").check()
    expect(dialog.locator(".review-counts")).to_contain_text("2 of 3 suggested test cases kept")

    gap = dialog.locator("#criterion-3")
    gap.get_by_role("button", name="Generate for this criterion").click()
    expect(gap).to_contain_text("Generating for AC-3")
    expect(gap).to_be_focused()  # its button is gone: the focus stays on its row, not lost to the page

    title.click()
    title.press("End")
    title.type(" (edited)")  # typing while the job runs
    expect(cards).to_have_count(4, timeout=JOB_TIMEOUT_MS)

    joined = cards.nth(3)
    expect(joined).to_have_class("suggestion joined")
    expect(joined.locator(".cite")).to_contain_text(["AC-3"])
    expect(dialog.locator("[data-joined-note]")).to_have_text("1 new suggestion joined this review: test case 4.")
    expect(title).to_be_focused()
    expect(title).to_have_value("Add one item to an empty cart (edited)")
    # The toast announcing the job's end offers "Review": it brings the lead back here, never a second dialog.
    dialog.locator(".dialog-toasts").get_by_role("link", name="Review").click()
    expect(page.locator("dialog.review-dialog")).to_have_count(1)
    expect(dialog.locator("[data-joined-note]")).to_be_focused()
    expect(cards.nth(1)).to_have_class("suggestion deleted")
    expect(dialog.locator(".review-counts")).to_contain_text("3 of 4 suggested test cases kept")
    # AC-3 is covered now; AC-2 is a gap since the lead deleted the one test case citing it.
    expect(dialog.locator(".coverage-summary")).to_contain_text("2 of 3 acceptance criteria covered")
    expect(dialog.locator("#criterion-3")).to_have_class("criterion")
    expect(dialog.locator("#criterion-2")).to_have_class("criterion uncovered")
    status = dialog.locator("#criterion-3 [data-criterion-status]")
    expect(status).to_have_text("3 scenarios")
    expect(status).to_have_attribute("title", re.compile(r"^Test case 4 · .*variant 1\nTest case 4 · "))
    toasts, footer = dialog.locator(".dialog-toasts").bounding_box(), dialog.locator(".dialog-actions").bounding_box()
    assert toasts["y"] + toasts["height"] <= footer["y"] + 1  # toasts sit above Save, never over it
    assert page.evaluate("window.__eventSources.length") == 1
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"review-joined-{width}")

    dialog.get_by_role("button", name="Save 3").click()
    dialog.locator("#review-confirm").get_by_role("button", name="Save anyway").click()
    expect(page.locator("dialog.review-dialog")).to_have_count(0)
    saved = list(TestCase.objects.filter(story=job.story).order_by("pk"))
    assert [tc.title for tc in saved[:2]] == ["Add one item to an empty cart (edited)", "Cart case 3"]
    assert len(saved) == 3
    assert 3 in {n for tc in saved for sc in tc.scenarios.all() for n in sc.criteria}


def test_a_review_opened_for_a_story_the_page_does_not_list_gets_them_too(logged_in_page, cluster, fake):
    fake.reset()
    page = logged_in_page
    page.add_init_script(RECORDER)
    job = ready_review()
    factories.make_story(project=job.story.project, key="SHOP-9", title="Wish list")
    page.goto("/stories/?q=wish")  # the table lists SHOP-9 only: the page's stream does not carry SHOP-3
    page.get_by_role("button", name="1 story ready to review").click()
    dialog = page.locator("dialog.review-dialog[open]")
    cards = dialog.locator("article.suggestion")
    expect(cards).to_have_count(3)
    cards.nth(0).get_by_label("Title").fill("Typed before it joined")

    dialog.locator("#criterion-3").get_by_role("button", name="Generate for this criterion").click()
    expect(dialog.locator("#criterion-3")).to_contain_text("Generating for AC-3")
    expect(cards).to_have_count(4, timeout=JOB_TIMEOUT_MS)
    expect(dialog.locator("#criterion-3")).to_contain_text("scenario")
    expect(cards.nth(0).get_by_label("Title")).to_have_value("Typed before it joined")
    assert page.evaluate("window.__eventSources.length") == 1
    assert job.suggestions.count() == 4
