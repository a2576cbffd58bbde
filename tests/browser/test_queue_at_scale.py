"""What a lead sees when much is queued: the dialog's estimate, and each queued badge's place in the queue.

No cluster runs here, so the queued jobs stay queued and their badges keep their "N ahead".
"""

import pytest
from playwright.sync_api import expect

from generation.models import GenerationJob
from tests import factories
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.mark.parametrize("width", [1280, 390])
def test_queued_badges_say_how_many_jobs_are_ahead(logged_in_page, width):
    page = logged_in_page
    page.set_viewport_size({"width": width, "height": 900})
    project = factories.make_project(key="SHOP", name="Web shop")
    stories = [factories.make_story(project=project, key=f"SHOP-{n}", title=f"Story {n}") for n in (1, 2, 3)]
    page.goto("/stories/")
    for story in stories:
        page.get_by_label(f"Select {story.key}").check()
    page.get_by_role("button", name="Generate for selected").click()
    dialog = page.locator("dialog.generate-dialog[open]")
    expect(dialog.locator("#generate-estimate")).to_contain_text("no model calls")
    screenshot(page, f"scale-1-dialog-estimate-{width}")
    dialog.get_by_role("button", name="Queue generation").click()
    expect(page.locator(f"#story-{stories[0].pk}-badge")).to_contain_text("Queued")
    expect(page.locator(f"#story-{stories[1].pk}-badge")).to_contain_text("Queued · 1 ahead")
    expect(page.locator(f"#story-{stories[2].pk}-badge")).to_contain_text("Queued · 2 ahead")
    screenshot(page, f"scale-2-queued-ahead-{width}")


@pytest.fixture
def gemini_web(asgi_server):
    """The web server with a Gemini key, so the dialog estimates model calls (no call is made: no cluster runs)."""
    asgi_server.env["GEMINI_API_KEY"] = "test-key-not-secret"
    asgi_server.restart()
    yield asgi_server
    del asgi_server.env["GEMINI_API_KEY"]
    asgi_server.restart()


@pytest.mark.parametrize("width", [1280, 390])
def test_the_dialog_s_estimate_counts_the_calls_queued_ahead(gemini_web, logged_in_page, width):
    page = logged_in_page
    page.set_viewport_size({"width": width, "height": 900})
    project = factories.make_project(key="SHOP", name="Web shop")
    waiting = factories.make_project(key="BULK", name="Someone's sprint")
    for n in range(40):  # another lead's sprint, queued: 40 x 3 calls ahead
        story = factories.make_story(project=waiting, key=f"BULK-{n}")
        GenerationJob.objects.create(story=story, test_cases=9, scenarios_per_test=5)
    story = factories.make_story(project=project, key="SHOP-1", title="Pay with a voucher")
    page.goto("/stories/?project=SHOP")
    page.get_by_label(f"Select {story.key}").check()
    page.get_by_role("button", name="Generate for selected").click()
    estimate = page.locator("dialog.generate-dialog[open] #generate-estimate")
    expect(estimate).to_contain_text("About 1 model call")
    expect(estimate).to_contain_text("with 120 calls queued ahead")
    box, dialog = estimate.bounding_box(), page.locator("dialog.generate-dialog[open]").bounding_box()
    assert box["x"] >= dialog["x"] and box["x"] + box["width"] <= dialog["x"] + dialog["width"], "inside the dialog"
    screenshot(page, f"scale-3-estimate-queued-ahead-{width}")
