"""Import from the browser, everything real: daphne (Django + the SSE stream), a `qcluster` subprocess running the
parse and the write, Debian's Chromium. Upload a wide Jira export, watch it being read on the page's one stream,
read the preview, confirm, and find the stories in the table."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import expect

from stories.models import ImportJob, UserStory
from tests import factories
from tests.browser.conftest import ARTIFACTS, screenshot
from tests.cluster import running_cluster

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROWS = 4000
# Records the states the import section goes through, so the test sees transient ones without racing them.
RECORDER = """
(() => {
  window.__importStates = [];
  window.__eventSources = 0;
  const Native = window.EventSource;
  window.EventSource = class extends Native {
    constructor(url, options) { super(url, options); window.__eventSources += 1; }
  };
  const scan = () => {
    const section = document.getElementById("import-status");
    const seen = window.__importStates;
    if (section && seen[seen.length - 1] !== section.dataset.status) seen.push(section.dataset.status);
  };
  new MutationObserver(scan).observe(document, { childList: true, subtree: true, attributes: true });
  document.addEventListener("DOMContentLoaded", scan);
})();
"""


@pytest.fixture(scope="module")
def cluster(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        with running_cluster(tmp_path_factory.mktemp("qcluster")) as running:
            yield running


def jira_export(rows: int) -> bytes:
    """A wide Jira Cloud CSV: BOM, repeated Labels/Sprint/Watchers columns, two Acceptance Criteria fields."""
    header = ["Summary", "Issue key", "Issue id", "Issue Type", "Status", "Status Category", "Project key"]
    header += ["Project name", "Priority", "Labels", "Labels", "Sprint", "Sprint", "Watchers", "Watchers"]
    header += ["Description", "Custom field (Acceptance Criteria)", "Custom field (Acceptance Criteria)"]
    header += [f"Custom field (Field {i})" for i in range(40)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for n in range(1, rows + 1):
        status, category = [("Ready for QA", "In Progress"), ("To Do", "To Do"), ("Won't Do", "Done")][n % 3]
        criteria = "# Given a shopper\nWhen they pay\nThen the order is placed\n# The receipt is *emailed*"
        writer.writerow(
            [f"Story number {n}", f"SHOP-{n}", str(10000 + n), "Bug" if n % 10 == 0 else "Story", status, category]
            + ["SHOP", "Web shop", "P2", "checkout", "", "Sprint 1", "", "ana", "li"]
            + [f"As a shopper I want thing {n}.", "", criteria]
            + [f"value {i}" for i in range(40)]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def test_upload_watch_preview_confirm_and_see_the_stories(logged_in_page, cluster, tmp_path):
    factories.make_project(key="SHOP", name="Web shop")  # the lead is one of its editors (browser_user)
    page = logged_in_page
    page.add_init_script(RECORDER)
    export = tmp_path / "jira-export.csv"
    export.write_bytes(jira_export(ROWS))

    page.goto("/stories/")
    page.get_by_role("link", name="Import stories").first.click()
    expect(page.get_by_role("heading", name="Import stories")).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "import-form-390")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_label("File").set_input_files(str(export))
    page.get_by_label("Only these types").fill("Story, Bug")
    page.get_by_role("button", name="Read the file").click()

    section = page.locator("#import-status")
    expect(section).to_have_attribute("data-status", "preview", timeout=60_000)
    assert page.evaluate("window.__importStates").index("parsing") < page.evaluate("window.__importStates").index(
        "preview"
    ), page.evaluate("window.__importStates")
    assert page.evaluate("window.__eventSources") == 1  # the page's one stream carried the progress
    expect(section).to_contain_text(f"Jira CSV export · {ROWS} rows")
    expect(section).to_contain_text(f"{ROWS} to create")
    expect(section).to_contain_text('status "Ready for QA" read as In progress (its Status Category "In Progress")')
    expect(section).to_contain_text("Story 3600")
    assert not UserStory.objects.exists()  # nothing written before the confirmation
    screenshot(page, "import-preview-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "import-preview-390")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("button", name=f"Import {ROWS} stories").click()
    expect(section).to_have_attribute("data-status", "done", timeout=90_000)
    expect(section).to_contain_text(f"{ROWS} created, 0 updated, 0 unchanged")
    assert "importing" in page.evaluate("window.__importStates")
    screenshot(page, "import-done-1280")
    assert UserStory.objects.count() == ROWS
    assert ImportJob.objects.get().status == "done"

    page.get_by_role("button", name="See the stories").click()
    expect(page.locator(".result-count")).to_contain_text(f"{ROWS} stories")
    keys = page.locator(".story-row .col-key").all_inner_texts()[:3]
    assert keys == ["SHOP-1", "SHOP-2", "SHOP-3"], keys  # natural order
    screenshot(page, "import-stories-table-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_role("button", name="Import stories")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "import-stories-table-390.png"))  # the top of a 50-row page
