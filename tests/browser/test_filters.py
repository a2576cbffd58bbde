"""Filters and sorting of the stories table in real Chromium: a status filter, a sort header, and the back button
bringing back both the table and the controls that describe it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from generation.models import GenerationJob, JobStatus
from tests import factories
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def keys(page) -> list[str]:
    return page.locator("table.story-table td.col-key").all_inner_texts()


@pytest.fixture
def backlog(db):
    shop = factories.make_project(key="SHOP", name="Web shop")
    bank = factories.make_project(key="BANK", name="Bank")
    stories = {
        "SHOP-10": factories.make_story(project=shop, key="SHOP-10", title="Apply a voucher", priority="low"),
        "SHOP-2": factories.make_story(project=shop, key="SHOP-2", title="Track a parcel", priority="highest"),
        "SHOP-9": factories.make_story(project=shop, key="SHOP-9", title="Checkout as a guest", priority="medium"),
        "BANK-1": factories.make_story(project=bank, key="BANK-1", title="Open an account", priority="high"),
    }
    GenerationJob.objects.create(story=stories["SHOP-9"], status=JobStatus.READY, progress=100)
    GenerationJob.objects.create(story=stories["BANK-1"], status=JobStatus.READY, progress=100)
    GenerationJob.objects.create(story=stories["SHOP-2"], status=JobStatus.FAILED, error="Quota exceeded")
    return stories


def test_status_filter_then_sort_then_back_restores_table_and_controls(logged_in_page, backlog):
    page = logged_in_page
    page.goto("/stories/")
    assert keys(page) == ["BANK-1", "SHOP-2", "SHOP-9", "SHOP-10"]  # grouped by project, natural key order

    page.get_by_label("Filter by status").select_option("ready")
    expect(page).to_have_url(re.compile(r"status=ready"))
    expect(page.locator("table.story-table tr.story-row")).to_have_count(2)
    assert keys(page) == ["BANK-1", "SHOP-9"]
    page.get_by_label("Filter by project").select_option("SHOP")
    expect(page.locator("table.story-table tr.story-row")).to_have_count(1)
    screenshot(page, "filters-1-ready-in-shop")

    # Back: the table AND the controls go back to "ready in any project".
    page.go_back()
    expect(page).not_to_have_url(re.compile(r"project=SHOP"))
    expect(page.locator("table.story-table tr.story-row")).to_have_count(2)
    expect(page.get_by_label("Filter by project")).to_have_value("")
    expect(page.get_by_label("Filter by status")).to_have_value("ready")
    page.go_back()
    expect(page.locator("table.story-table tr.story-row")).to_have_count(4)
    expect(page.get_by_label("Filter by status")).to_have_value("")

    # A sort header sorts within each project; clicked again it reverses; the Sort control agrees.
    page.get_by_role("link", name="Priority").click()
    expect(page).to_have_url(re.compile(r"sort=priority"))
    expect(page.get_by_label("Sort by")).to_have_value("priority")
    assert keys(page) == ["BANK-1", "SHOP-2", "SHOP-9", "SHOP-10"]
    page.get_by_role("link", name=re.compile("^Priority")).click()
    expect(page).to_have_url(re.compile(r"sort=-priority"))
    expect(page.locator("th.col-priority")).to_have_attribute("aria-sort", "descending")
    assert keys(page) == ["BANK-1", "SHOP-10", "SHOP-9", "SHOP-2"]
    expect(page.get_by_label("Sort by")).to_have_value("-priority")
    screenshot(page, "filters-2-sorted-by-priority")

    # Leaving for a story and coming back keeps the table and the controls as they were.
    page.get_by_label("Filter by status").select_option("failed")
    expect(page.locator("table.story-table tr.story-row")).to_have_count(1)
    page.get_by_role("link", name="SHOP-2", exact=True).click()
    expect(page).to_have_url(re.compile(r"/stories/SHOP-2/$"))
    page.go_back()
    expect(page.locator("table.story-table tr.story-row")).to_have_count(1)
    expect(page.get_by_label("Filter by status")).to_have_value("failed")
    expect(page.get_by_label("Sort by")).to_have_value("-priority")
