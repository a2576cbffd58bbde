"""The live stories table in real Chromium: generate dialog, badges moving over one SSE stream, review dialog, save.

Everything real: daphne serving the ASGI app (Django + the SSE stream), a `qcluster` subprocess running the jobs with
the Gemini generator through the real SDK against the fake Gemini server (1 s per call), and Debian's Chromium.
One cluster and one fake server serve the whole module; tables are flushed between tests anyway.
"""

from __future__ import annotations

import re

import httpx
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from generation import jobs
from generation.models import GenerationJob, JobStatus
from stories.models import TestCase
from tests import factories
from tests.browser.conftest import screenshot
from tests.cluster import module_cluster, wait_until
from tests.fake_gemini import start_fake_gemini

pytestmark = [pytest.mark.slow, pytest.mark.browser]

LATENCY = 1.0
# Gemini through the fake, batches of at most 6 scenarios sent one at a time: the default 5 x 3 request runs as
# 3 batches of about a second each, long enough to watch "Generating 33% · Batch 1 of 3" go by.
CLUSTER_ENV = {
    "GEMINI_API_KEY": "test-key-not-secret",
    "QAFORGE_BATCH_SIZE": "6",
    "QAFORGE_LLM_CONCURRENCY": "1",
    "QAFORGE_RETRY_BASE_SECONDS": "0.01",
    "QAFORGE_RETRY_MAX_SECONDS": "0.05",
    "QAFORGE_LLM_TIMEOUT_SECONDS": "10",
}
JOB_TIMEOUT_MS = 20_000

# Runs before the page's own scripts: counts EventSource connections and records every state each badge shows and
# every toast that appears, so the test sees the transient states without racing them.
RECORDER = """
(() => {
  window.__eventSources = [];
  const Native = window.EventSource;
  window.EventSource = class extends Native {
    constructor(url, options) { super(url, options); window.__eventSources.push(this); }
  };
  window.__states = {};
  window.__toasts = [];
  const scan = () => {
    document.querySelectorAll(".badge[id$='-badge']").forEach((badge) => {
      const seen = (window.__states[badge.id] ||= []);
      if (seen[seen.length - 1] !== badge.dataset.state) seen.push(badge.dataset.state);
    });
    document.querySelectorAll("#toasts .toast:not([data-recorded])").forEach((toast) => {
      toast.dataset.recorded = "1";
      window.__toasts.push(toast.textContent.replace(/\\s+/g, " ").trim());
    });
  };
  new MutationObserver(scan).observe(document, { childList: true, subtree: true });
})();
"""


@pytest.fixture(scope="module")
def fake():
    server = start_fake_gemini(latency=LATENCY)
    yield server
    server.stop()


cluster = module_cluster(**CLUSTER_ENV)


@pytest.fixture
def live_page(logged_in_page, cluster, fake):
    """The signed-in page with the recorder installed, a running cluster and a fresh fake Gemini."""
    fake.reset()
    logged_in_page.add_init_script(RECORDER)
    yield logged_in_page
    fake.reset()


def open_stories(page) -> None:
    page.goto("/stories/")
    page.evaluate("window.__marker = 'no reload'")
    # The stream is open once the page's one EventSource says so.
    page.wait_for_function("window.__eventSources.length === 1 && window.__eventSources[0].readyState === 1")


def badge(page, story):
    return page.locator(f"#story-{story.pk}-badge")


def states(page, story) -> list[str]:
    return page.evaluate(f"window.__states['story-{story.pk}-badge'] || []")


def queue_from_dialog(page, test_cases: int | None = None, scenarios: int | None = None) -> float:
    """Fill the open generate dialog, press "Queue generation"; return the seconds until the dialog was closed."""
    dialog = page.locator("dialog.generate-dialog[open]")
    expect(dialog).to_be_visible()
    if test_cases:
        dialog.locator("input[name=test_cases]").fill(str(test_cases))
    if scenarios:
        dialog.locator("input[name=scenarios_per_test]").fill(str(scenarios))
    button = dialog.get_by_role("button", name="Queue generation")
    # Timed inside the page, from the click on the button to the dialog's close event: what the lead sees, without
    # the test harness's own round trips (which a busy CI machine would add).
    page.evaluate(
        """() => {
          const dialog = document.querySelector("dialog.generate-dialog[open]");
          const button = [...dialog.querySelectorAll("button")].find((b) => b.textContent.includes("Queue generation"));
          window.__dialogClosing = new Promise((done) => {
            let clickedAt = null;
            button.addEventListener("click", () => { clickedAt = performance.now(); }, { capture: true, once: true });
            dialog.addEventListener("close", () => done(performance.now() - clickedAt), { once: true });
          });
        }"""
    )
    page.wait_for_function("document.getAnimations().length === 0")
    expect(button).to_be_enabled()
    button.click()
    seconds = page.evaluate("window.__dialogClosing") / 1000
    expect(page.locator("dialog")).to_have_count(0)  # closed, then removed once its request was answered
    return seconds


def test_three_stories_queued_in_quick_succession_update_live_on_one_stream(live_page):
    page = live_page
    project = factories.make_project(key="SHOP", name="Web shop")
    stories = [factories.make_story(project=project, key=f"SHOP-{n}", title=f"Story {n}") for n in (1, 2, 3)]
    open_stories(page)
    screenshot(page, "live-1-stories-before")

    closing_times = []
    for story in stories:
        page.get_by_role("link", name=f"Generate tests for {story.key}").click()
        closing_times.append(queue_from_dialog(page))
        # The answer to "Queue generation" brings the row's Queued badge out of band.
        expect(badge(page, story)).not_to_have_attribute("data-state", "count")
    # "At once" means before the queue request is answered (which takes seconds on a loaded machine); the exact
    # figure belongs to a benchmark, so the bound here only catches a dialog that waits for the server.
    assert all(seconds < 1.0 for seconds in closing_times), closing_times
    print(f"dialog closing times (s): {closing_times}")
    expect(page.locator("#toasts")).to_contain_text("Generating tests for SHOP-3")
    screenshot(page, "live-2-three-queued")

    expect(badge(page, stories[0])).to_have_attribute("data-state", re.compile("starting|running"), timeout=10_000)
    expect(badge(page, stories[0])).to_contain_text(re.compile("Starting|Generating"))
    screenshot(page, "live-3-generating")
    for story in stories:
        expect(badge(page, story)).to_have_attribute("data-state", "ready", timeout=JOB_TIMEOUT_MS)
    screenshot(page, "live-4-ready")

    for story in stories:
        seen = states(page, story)
        assert seen[0] == "count" and seen[-1] == "ready", seen
        assert "queued" in seen and ({"starting", "running"} & set(seen)), seen
        assert seen.index("queued") < seen.index("ready")
    toasts = page.evaluate("window.__toasts")
    # The jobs' ends coalesce into one toast that counts them (replaced, never stacked), opening the first.
    assert any(t.startswith("SHOP-1 ready to review") or t.startswith("2 stories") for t in toasts), toasts
    ready = page.locator("#toasts .toast", has_text="ready to review")
    expect(ready).to_have_count(1)
    expect(ready).to_contain_text("3 stories ready to review")
    expect(ready.get_by_role("link", name="Review")).to_be_visible()
    # One stream for the whole page, never reopened, and nothing reloaded.
    assert page.evaluate("window.__eventSources.length") == 1
    assert page.evaluate("window.__eventSources[0].url").endswith(
        "/events/stories?ids=" + ",".join(str(s.pk) for s in stories)
    )
    assert page.evaluate("window.__marker") == "no reload"
    assert GenerationJob.objects.filter(status=JobStatus.READY, generator="gemini").count() == 3


def test_review_edit_delete_and_save_then_the_story_lists_the_test_cases(live_page):
    page = live_page
    project = factories.make_project(key="SHOP", name="Web shop")
    story = factories.make_story(project=project, key="SHOP-5", title="Guest checkout")
    factories.make_story(project=project, key="SHOP-6", title="Not selected")
    open_stories(page)

    # "Generate for selected": the checked row's key travels with the form the checkbox belongs to.
    page.get_by_label("Select SHOP-5").check()
    page.get_by_role("button", name="Generate for selected").click()
    expect(page.locator("dialog.generate-dialog[open] .generate-for")).to_have_text(re.compile(r"For\s+SHOP-5"))
    queue_from_dialog(page, test_cases=2, scenarios=2)
    expect(badge(page, story)).to_have_attribute("data-state", "ready", timeout=JOB_TIMEOUT_MS)

    badge(page, story).get_by_role("link", name="Ready to review").click()
    dialog = page.locator("dialog.review-dialog[open]")
    expect(dialog).to_be_visible()
    cards = dialog.locator("article.suggestion")
    expect(cards).to_have_count(2)
    expect(dialog.locator("pre.gherkin b.kw", has_text="Given").first).to_be_visible()  # highlighted server-side
    screenshot(page, "live-5-review-dialog")

    first = cards.nth(0)
    first.locator("details.edit-steps").first.locator("summary").click()
    steps = first.locator("textarea").first
    # A step that is not Gherkin comes back inline, in the dialog, with nothing saved.
    steps.fill("Given a guest with a full cart\nclick pay")
    cards.nth(1).get_by_label("Delete").check()  # folds to "will not be saved · Undo" until saved
    expect(dialog.locator(".review-counts")).to_contain_text("1 of 2 suggested test cases kept")
    dialog.get_by_role("button", name="Save 1").click()
    expect(dialog.locator(".field-error")).to_contain_text("'click pay' is not a Gherkin step")
    expect(dialog.locator("textarea").first).to_be_focused()
    expect(dialog).to_be_visible()
    assert not TestCase.objects.exists()
    screenshot(page, "live-6-review-inline-error")

    steps = dialog.locator("article.suggestion").first.locator("textarea").first
    steps.fill("Given a guest with a full cart\nWhen the guest pays by card\nThen the order is confirmed")
    dialog.get_by_role("button", name="Save 1").click()
    # The deleted case was the only one citing AC-2: saving asks first.
    expect(dialog.locator("#review-confirm")).to_contain_text("AC-2 is not covered by any scenario you kept.")
    dialog.get_by_role("button", name="Save anyway").click()
    expect(page.locator("dialog")).to_have_count(0)  # closed, and gone from the page
    # The count lives in the badge, the one live fragment: nothing beside it can stay at 0 until a reload.
    expect(badge(page, story)).to_have_text("1 test case")
    expect(page.locator("table.story-table thead")).not_to_contain_text("Test cases")
    expect(page.locator("#toasts")).to_contain_text("Saved 1 test case to SHOP-5.")
    assert page.evaluate("window.__marker") == "no reload"
    screenshot(page, "live-7-saved")

    [test_case] = TestCase.objects.filter(story=story)
    assert test_case.scenarios.count() == 2
    page.goto(f"/stories/{story.key}/")
    expect(page.locator(".test-case")).to_have_count(1)
    expect(page.locator("#test-case-count")).to_have_text("(1)")
    expect(page.locator("pre.gherkin").first).to_contain_text("When the guest pays by card")
    expect(page.locator("pre.gherkin b.kw", has_text="When").first).to_be_visible()
    screenshot(page, "live-8-story-with-saved-tests")


def test_a_failing_job_shows_failed_with_its_reason(live_page, fake):
    page = live_page
    fake.configure(faults=[{"fault": "bad_key", "times": -1}])
    story = factories.make_story(project=factories.make_project(key="SHOP"), key="SHOP-9", title="Fails")
    open_stories(page)
    page.get_by_role("link", name="Generate tests for SHOP-9").click()
    queue_from_dialog(page, test_cases=1, scenarios=1)

    expect(badge(page, story)).to_have_attribute("data-state", "failed", timeout=JOB_TIMEOUT_MS)
    reason = badge(page, story).locator(".badge-reason")
    expect(reason).to_be_hidden()
    badge(page, story).get_by_text("Failed").click()
    expect(reason).to_be_visible()
    expect(reason).to_contain_text("Gemini rejected the API key")
    expect(badge(page, story).locator("summary")).to_have_attribute("title", re.compile("Gemini rejected the API key"))
    expect(page.locator("#toasts .toast-error")).to_contain_text("Generation for SHOP-9 failed")
    assert "test-key-not-secret" not in page.content()
    screenshot(page, "live-9-failed")


def test_cancel_on_a_running_badge_stops_the_job(live_page, fake):
    page = live_page
    # The model call hangs long enough for the lead to see the job start and cancel it, however loaded the machine.
    fake.configure(faults=[{"fault": "hang", "hang_seconds": 12}])
    story = factories.make_story(project=factories.make_project(key="SHOP"), key="SHOP-8", title="Cancelled")
    open_stories(page)
    page.get_by_role("link", name="Generate tests for SHOP-8").click()
    queue_from_dialog(page, test_cases=1, scenarios=1)
    expect(badge(page, story)).to_have_attribute("data-state", "starting", timeout=10_000)

    # The answer to Cancel is held until the live stream has already replaced the badge (and the Cancel form in it):
    # the toast must still come, though the form that asked is gone.
    held = {}
    page.route("**/generation/jobs/*/cancel", lambda route: held.update(route=route, answer=route.fetch()))
    badge(page, story).get_by_role("button", name="Cancel generation for SHOP-8").click()
    expect(badge(page, story)).to_have_attribute("data-state", "count")
    expect(badge(page, story)).to_have_text("No tests yet")
    held["route"].fulfill(response=held["answer"])
    expect(page.locator("#toasts")).to_contain_text("Cancelled generation for SHOP-8.")
    assert GenerationJob.objects.get(story=story).status == JobStatus.CANCELLED
    assert page.evaluate("window.__marker") == "no reload"


def test_a_badge_the_stream_sends_again_unchanged_stays_in_place(live_page):
    page = live_page
    story = factories.make_story(project=factories.make_project(key="SHOP"), key="SHOP-6", title="Waiting")
    job, _ = jobs.queue_generation(story, test_cases=1, scenarios_per_test=1)
    wait_until(lambda: GenerationJob.objects.get(pk=job.pk).status == JobStatus.READY, timeout=20, message="ready")
    # Each badge of the page as loaded is marked before htmx connects the stream; every stream message is counted.
    page.add_init_script("""
      document.addEventListener("DOMContentLoaded", () => {
        document.querySelectorAll(".badge").forEach((b) => { b.__fromThePage = true; });
      });
      document.addEventListener("htmx:sseBeforeMessage", (e) => {
        if (e.target.id && e.target.id.endsWith("-badge")) window.__badgeMessages = (window.__badgeMessages || 0) + 1;
      });
    """)
    open_stories(page)
    # The stream's first burst sends this recently finished job's badge again: the page already shows it.
    page.wait_for_function("window.__badgeMessages >= 1")
    assert badge(page, story).evaluate("b => b.__fromThePage === true")  # not replaced by a copy of itself
    badge(page, story).get_by_role("link", name="Ready to review").click()
    expect(page.locator("dialog.review-dialog[open]")).to_be_visible()


def test_badges_come_back_by_themselves_after_a_server_restart(live_page, asgi_server):
    page = live_page
    story = factories.make_story(project=factories.make_project(key="SHOP"), key="SHOP-7", title="Restarted")
    open_stories(page)
    expect(badge(page, story)).to_have_attribute("data-state", "count")

    asgi_server.stop()
    # While the web server is down the job is queued and runs to its end on the worker.
    job, _ = jobs.queue_generation(story, test_cases=1, scenarios_per_test=1)
    wait_until(lambda: GenerationJob.objects.get(pk=job.pk).status == JobStatus.READY, timeout=20, message="ready")
    asgi_server.start()

    # The EventSource reconnects by itself and the stream's first burst brings the current badge.
    expect(badge(page, story)).to_have_attribute("data-state", "ready", timeout=15_000)
    assert page.evaluate("window.__marker") == "no reload"
    screenshot(page, "live-10-after-restart")

    # And it keeps listening on the new connection: suggestions discarded elsewhere reach the page.
    GenerationJob.objects.filter(pk=job.pk).update(status=JobStatus.DISCARDED, updated_at=timezone.now())
    expect(badge(page, story)).to_have_attribute("data-state", "count", timeout=5_000)


def test_the_stream_refuses_anonymous_requests(page, asgi_server):
    factories.make_story(key="ST-1")
    response = page.request.get("/events/stories?ids=1")
    assert response.status in (401, 403)
    # And straight over HTTP, no browser involved.
    assert httpx.get(f"{asgi_server.url}/events/stories?ids=1", timeout=5).status_code in (401, 403)
