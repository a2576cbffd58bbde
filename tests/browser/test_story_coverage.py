"""The story page's coverage of acceptance criteria in real Chromium, at laptop and phone widths."""

import pytest
from playwright.sync_api import expect

from generation.models import GenerationJob, JobStatus
from stories.models import Scenario
from tests import factories
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CRITERIA = [
    "A guest can check out without an account",
    "The order confirmation is emailed within a minute",
    "A voucher that expired yesterday is refused with the reason",
]


@pytest.mark.parametrize("width", [1280, 390])
def test_a_criterion_no_saved_scenario_covers_offers_to_generate_for_it(logged_in_page, width):
    page = logged_in_page
    page.set_viewport_size({"width": width, "height": 900})
    story = factories.make_story(
        project=factories.make_project(key="SHOP"), key="SHOP-4", title="Guest checkout", acceptance_criteria=CRITERIA
    )
    case = factories.make_test_case(story, scenarios=0, title="Guest pays by card")
    steps = "Given a guest with a full cart\nWhen they pay by card\nThen the order is confirmed"
    Scenario.objects.create(test_case=case, name="Pays by card", steps=steps, criteria=[1, 2])

    page.goto(f"/stories/{story.key}/")
    criteria = page.locator("#acceptance-criteria")
    expect(criteria).to_contain_text("2 of 3 covered by saved scenarios")
    gap = criteria.locator("#ac-3")
    expect(gap).to_contain_text("not covered")
    screenshot(page, f"story-coverage-{width}")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    gap.get_by_role("button", name="Generate for this criterion").click()
    expect(page.locator(f"#story-{story.pk}-badge")).not_to_have_attribute("data-state", "count")
    job = GenerationJob.objects.get(story=story)
    assert (job.criteria, job.status in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.READY)) == ([3], True)
