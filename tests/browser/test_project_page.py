"""A project's page in real Chromium, at laptop and phone widths: reached from the stories table's project heading,
its coverage figure and the uncovered criteria story by story, a job queued from there for one story's gaps."""

import pytest
from playwright.sync_api import expect

from generation.models import GenerationJob
from stories.models import Scenario
from tests import factories
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.slow, pytest.mark.browser]

STEPS = "Given a guest with a full cart\nWhen they pay by card\nThen the order is confirmed"


@pytest.mark.parametrize("width", [1280, 390])
def test_the_project_page_shows_the_coverage_figure_and_the_gaps(logged_in_page, width):
    page = logged_in_page
    page.set_viewport_size({"width": width, "height": 900})
    shop = factories.make_project(key="SHOP", name="Web shop")
    checkout = factories.make_story(
        project=shop,
        key="SHOP-4",
        title="Guest checkout",
        acceptance_criteria=[
            "A guest can check out without an account",
            "The order confirmation is emailed within a minute",
            "A voucher that expired yesterday is refused with the reason",
        ],
    )
    case = factories.make_test_case(checkout, scenarios=0, title="Guest pays by card")
    Scenario.objects.create(test_case=case, name="Pays by card", steps=STEPS, criteria=[1, 2])
    factories.make_story(
        project=shop, key="SHOP-5", title="Wish list", acceptance_criteria=["A shopper can save an item"]
    )

    page.goto("/stories/")
    page.locator("tr.project-group").get_by_role("link", name="Coverage").click()
    expect(page).to_have_url(f"{page.url.split('/stories/')[0]}/stories/projects/SHOP/")
    expect(page.locator("[data-coverage-percent]")).to_have_text("50%")
    expect(page.locator("#project-coverage")).to_contain_text("2 of 4 acceptance criteria covered by saved scenarios")
    expect(page.locator("#gap-SHOP-4 li")).to_have_text(
        ["AC-3 A voucher that expired yesterday is refused with the reason"]
    )
    expect(page.locator("#gap-SHOP-5 li")).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"project-coverage-{width}")

    page.locator("#gap-SHOP-4").get_by_role("button", name="Generate for this criterion").click()
    expect(page.locator("#toasts")).to_contain_text("Generating tests for SHOP-4")
    assert GenerationJob.objects.get(story=checkout).criteria == [3]
