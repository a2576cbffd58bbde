"""The jobs' admin in real Chromium at 1280 px: every column of the job list in view, a job's page read-only."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from generation.models import GenerationJob, JobStatus
from tests import factories
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_job_list_fits_and_a_job_reads_well(logged_in_page, browser_user):
    browser_user.is_staff = browser_user.is_superuser = True
    browser_user.save()
    project = factories.make_project(key="SHOP", name="Web shop")
    for n, status in enumerate([JobStatus.READY, JobStatus.RUNNING, JobStatus.FAILED], start=1):
        story = factories.make_story(project=project, key=f"SHOP-{n}", title=f"A story with a long title number {n}")
        job = GenerationJob.objects.create(
            story=story,
            status=status,
            progress=40 * n,
            generator="gemini",
            warnings=["Gemini returned 4 of the 5 test cases asked."] if status == JobStatus.READY else [],
            report={"batches": 3, "retries": {"rate_limited": 2}},
        )
    page = logged_in_page
    page.goto("/admin/generation/generationjob/")
    results = page.locator("#changelist .results")
    expect(results).to_be_visible()
    screenshot(page, "admin-job-list-1280")
    assert results.evaluate("e => e.scrollWidth <= e.clientWidth"), "the job list scrolls sideways"

    page.goto(f"/admin/generation/generationjob/{job.pk}/change/")
    expect(page.locator("select[name=status], input[name=progress]")).to_have_count(0)
    expect(page.locator(".field-report_display pre")).to_contain_text('"rate_limited": 2')
    screenshot(page, "admin-job-page-1280")
