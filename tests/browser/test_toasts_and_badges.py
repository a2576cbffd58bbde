"""Toasts and live badges in real Chromium, without a worker: jobs are queued through the real dialog, and their
ends are written to the database as a worker would, so the page's one stream brings badges and toasts."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from generation.models import GenerationJob, JobStatus
from tests import factories
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def open_stories(page, url: str = "/stories/") -> None:
    page.goto(url)
    expect(page.locator("#story-results[sse-connect]")).to_have_count(1)


def finish(job: GenerationJob, status: str, **fields) -> None:
    """What a worker writes when a job ends."""
    GenerationJob.objects.filter(pk=job.pk).update(
        status=status, progress=100, finished_at=timezone.now(), updated_at=timezone.now(), **fields
    )


def test_bulk_generate_is_one_summary_toast_then_ready_toasts_coalesce_and_dismiss(logged_in_page):
    page = logged_in_page
    project = factories.make_project(key="SHOP", name="Web shop")
    stories = [factories.make_story(project=project, key=f"SHOP-{n}", title=f"Story {n}") for n in (1, 2, 3)]
    factories.make_story(project=None, key="LOOSE-1", title="No project")
    page.clock.install()
    page.goto("/stories/")

    page.get_by_label("Select all stories on this page").check()
    page.get_by_role("button", name="Generate for selected").click()
    page.locator("dialog.generate-dialog[open]").get_by_role("button", name="Queue generation").click()
    toasts = page.locator("#toasts .toast")
    # One toast for the whole bulk action, listing every story that could not be queued, and why.
    expect(toasts).to_have_count(1)
    expect(toasts.first).to_contain_text("Generating tests for 3 stories · 1 could not be queued:")
    expect(toasts.first.locator(".toast-details li")).to_have_text(
        [re.compile(r"^LOOSE-1: This story is not linked to a project\.")]
    )
    screenshot(page, "toasts-1-bulk-summary")

    jobs = {job.story_id: job for job in GenerationJob.objects.all()}
    finish(jobs[stories[0].pk], JobStatus.READY)
    expect(toasts.filter(has_text="SHOP-1 ready to review")).to_have_count(1)
    expect(page.locator("[data-toast-key=queued]")).to_have_count(0)  # "Generating…" goes once a job ended
    finish(jobs[stories[1].pk], JobStatus.READY)
    finish(jobs[stories[2].pk], JobStatus.FAILED, error="Quota exceeded")
    ready = toasts.filter(has_text="stories ready to review")
    expect(ready).to_have_text("2 stories ready to reviewReview×")  # one toast, replaced, not stacked
    expect(toasts.filter(has_text="Generation for SHOP-3 failed: Quota exceeded")).to_have_count(1)
    expect(toasts).to_have_count(2)
    for story in stories[:2]:
        expect(page.locator(f"#story-{story.pk}-badge")).to_have_attribute("data-state", "ready")
    screenshot(page, "toasts-2-coalesced")

    # The toasts sit in the corner: they do not cover the Status and Actions of the rows.
    box = page.locator("#toasts").bounding_box()
    assert box["width"] <= 0.4 * 1280 and box["x"] > 1280 / 2

    # Information fades by itself; an error stays until it is closed.
    page.clock.run_for(6_000)
    expect(toasts).to_have_count(1)
    expect(toasts.first).to_have_class("toast toast-error")
    toasts.first.get_by_role("button", name="Dismiss").click()
    expect(toasts).to_have_count(0)

    # Shown once: a later page load announces nothing that already ended.
    page.goto("/stories/")
    page.clock.run_for(1_500)
    expect(page.locator(f"#story-{stories[0].pk}-badge")).to_have_attribute("data-state", "ready")
    expect(toasts).to_have_count(0)


def test_the_badge_keeps_the_row_and_the_actions_in_place_while_it_changes(logged_in_page):
    page = logged_in_page
    project = factories.make_project(key="SHOP", name="Web shop")
    story = factories.make_story(project=project, key="SHOP-1", title="Pay with a saved card in one click")
    factories.make_test_case(story)
    page.goto("/stories/")
    row = page.locator(f"#story-{story.pk}")
    badge = page.locator(f"#story-{story.pk}-badge")
    expect(badge).to_have_text("1 test case")

    def geometry():
        actions = row.locator(".col-actions").bounding_box()
        return round(row.bounding_box()["height"]), round(actions["x"]), round(actions["width"])

    before = geometry()
    job = GenerationJob.objects.create(
        story=story, status=JobStatus.RUNNING, progress=0, phase="Starting", updated_at=timezone.now()
    )
    expect(badge).to_have_attribute("data-state", "starting")
    expect(badge).to_have_text("StartingCancel")  # not "Starting · Starting"
    GenerationJob.objects.filter(pk=job.pk).update(
        progress=40, batches_done=2, batches_total=5, phase="Waiting for a worker (retrying)", updated_at=timezone.now()
    )
    expect(badge).to_have_attribute("data-state", "running")
    screenshot(page, "badge-running-1280")
    cancel, whole = badge.get_by_role("button", name="Cancel").bounding_box(), badge.bounding_box()
    assert cancel["x"] + cancel["width"] <= whole["x"] + whole["width"]  # nothing of the badge is cut off
    assert geometry() == before
    # Actions stay in view: the table needs no sideways scrolling
    assert page.evaluate("(w => w.scrollWidth <= w.clientWidth)(document.querySelector('.table-wrap'))")
    finish(job, JobStatus.READY)
    expect(badge).to_have_attribute("data-state", "ready")
    assert geometry() == before
