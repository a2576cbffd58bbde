"""The story badge: each state's text, classes and controls, escaping, and one partial for page and stream."""

import pytest
from django.template import Context, Template

from generation.badges import (
    attach_badges,
    badge_context,
    ended_entry,
    render_badge,
    render_job_toast,
    render_jobs_toast,
)
from generation.models import GenerationJob, JobStatus
from stories.models import UserStory
from tests import factories


def make_job(story, **fields) -> GenerationJob:
    return GenerationJob.objects.create(story=story, **fields)


def annotated(story) -> UserStory:
    return UserStory.objects.with_test_case_count().get(pk=story.pk)


def test_story_without_job_shows_no_tests_yet(story):
    html = render_badge(annotated(story), None)
    assert "No tests yet" in html
    assert 'class="badge badge-count"' in html


def test_story_without_job_shows_its_test_case_count(story):
    for _ in range(3):
        factories.make_test_case(story)
    assert "3 test cases" in render_badge(annotated(story), None)


def test_one_test_case_is_singular(story):
    factories.make_test_case(story)
    assert "1 test case<" in render_badge(annotated(story), None)


def test_badge_element_listens_for_its_own_event(story):
    html = render_badge(annotated(story), None)
    assert html.startswith(f'<span id="story-{story.pk}-badge" ')
    assert f'sse-swap="story-{story.pk}"' in html
    assert 'hx-swap="outerHTML"' in html


@pytest.mark.parametrize("status", [JobStatus.SAVED, JobStatus.DISCARDED, JobStatus.CANCELLED])
def test_finished_and_handled_job_shows_the_current_count(story, status):
    job = make_job(story, status=status)
    factories.make_test_case(story, source_job=job)
    factories.make_test_case(story, source_job=job)
    html = render_badge(annotated(story), job)
    assert "2 test cases" in html
    assert "Cancel" not in html


def test_queued_job_is_grey_and_cancellable(story):
    job = make_job(story, status=JobStatus.QUEUED)
    html = render_badge(annotated(story), job)
    assert 'class="badge badge-queued"' in html
    assert ">Queued<" in html
    cancel = f"/generation/jobs/{job.pk}/cancel"
    assert f'<form class="badge-cancel" method="post" action="{cancel}" hx-post="{cancel}"' in html
    assert ">Cancel</button>" in html


def test_running_job_with_nothing_done_is_starting(story):
    job = make_job(story, status=JobStatus.RUNNING, progress=0, batches_total=3, phase="Planning")
    html = render_badge(annotated(story), job)
    assert ">Starting<" in html
    assert "<progress" not in html
    assert "Planning" in html
    assert ">Cancel</button>" in html


def test_running_job_shows_progress_and_phase(story):
    job = make_job(story, status=JobStatus.RUNNING, progress=40, batches_done=1, batches_total=3, phase="Batch 2 of 3")
    html = render_badge(annotated(story), job)
    assert 'class="badge badge-running"' in html
    assert ">Generating 40%<" in html
    assert '<progress class="badge-progress" max="100" value="40">' in html
    assert '<span class="badge-phase">Batch 2 of 3</span>' in html
    assert f'action="/generation/jobs/{job.pk}/cancel"' in html


def test_ready_job_is_a_review_button(story):
    job = make_job(story, status=JobStatus.READY, progress=100)
    html = render_badge(annotated(story), job)
    review = f"/generation/jobs/{job.pk}/review"
    assert 'class="badge badge-ready"' in html
    assert f'href="{review}" hx-get="{review}"' in html
    assert ">Ready to review</a>" in html
    assert "badge-warning" not in html
    assert "Cancel" not in html


def test_ready_job_with_warning_shows_it(story):
    job = make_job(story, status=JobStatus.READY, warnings=["1 of 3 batches failed; 10 of 15 scenarios kept."])
    html = render_badge(annotated(story), job)
    assert 'class="badge-warning" title="1 of 3 batches failed; 10 of 15 scenarios kept."' in html


def test_failed_job_shows_its_reason_escaped(story):
    job = make_job(story, status=JobStatus.FAILED, error='Quota <script>alert("x")</script> exceeded')
    html = render_badge(annotated(story), job)
    assert 'class="badge badge-failed"' in html
    assert "<script>" not in html
    escaped = "Quota &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; exceeded"
    assert f'<summary class="badge-label" title="{escaped}">Failed</summary>' in html
    assert f'<span class="badge-reason">{escaped}</span>' in html


def test_failed_job_without_message_still_explains(story):
    job = make_job(story, status=JobStatus.FAILED, error="")
    assert "Generation failed." in render_badge(annotated(story), job)


def test_story_key_is_escaped(project):
    story = factories.make_story(project=project, key="SHOP-99", title="<b>bold</b>")
    job = make_job(story, status=JobStatus.QUEUED)
    html = render_badge(annotated(story), job)
    assert "SHOP-99" in html
    assert "<b>" not in html


@pytest.mark.parametrize(
    "fields",
    [
        {"status": JobStatus.QUEUED},
        {"status": JobStatus.RUNNING, "progress": 55, "phase": "Batch 2 of 3", "batches_done": 1},
        {"status": JobStatus.READY, "warnings": ["partial <results>"]},
        {"status": JobStatus.FAILED, "error": "<script>x</script>"},
        None,
    ],
)
def test_page_include_and_stream_render_the_same_html(story, fields):
    job = make_job(story, **fields) if fields else None
    row = annotated(story)
    row.badge = badge_context(row, job)  # what the page view does for each row
    page = Template('<tr><td>{% include "generation/badge.html#story-badge" with badge=row.badge %}</td></tr>').render(
        Context({"row": row})
    )
    assert page == f"<tr><td>{render_badge(row, job)}</td></tr>"


def test_attach_badges_costs_one_query_for_a_page(project, django_assert_num_queries):
    stories = [factories.make_story(project=project) for _ in range(5)]
    make_job(stories[0], status=JobStatus.RUNNING, progress=20)
    make_job(stories[1], status=JobStatus.READY)
    make_job(stories[2], status=JobStatus.FAILED, error="boom")
    factories.make_test_case(stories[3])
    rows = list(UserStory.objects.with_test_case_count().filter(pk__in=[s.pk for s in stories]).order_by("pk"))
    with django_assert_num_queries(1):
        attach_badges(rows)
        html = [
            Template('{% include "generation/badge.html#story-badge" with badge=r.badge %}').render(Context({"r": r}))
            for r in rows
        ]
    assert "Generating 20%" in html[0]
    assert "Ready to review" in html[1]
    assert "boom" in html[2]
    assert "1 test case" in html[3]
    assert "No tests yet" in html[4]


def test_badge_shows_the_latest_job(story):
    make_job(story, status=JobStatus.FAILED, error="old failure")
    newer = make_job(story, status=JobStatus.QUEUED)
    [row] = attach_badges([annotated(story)])
    assert row.badge["job"] == newer
    assert row.badge["state"] == "queued"


def test_unannotated_story_counts_with_a_query(story, django_assert_num_queries):
    factories.make_test_case(story)
    story = UserStory.objects.get(pk=story.pk)
    with django_assert_num_queries(1):
        assert "1 test case" in render_badge(story, None)


def test_ready_toast_links_to_the_review(story):
    job = make_job(story, status=JobStatus.READY)
    html = render_job_toast(job)
    assert html.startswith('<div class="toast toast-success" role="status" data-toast-key="jobs-ready">')
    assert "SHOP-12 ready to review" in html
    assert f'href="/generation/jobs/{job.pk}/review"' in html
    assert ">Review</a>" in html


def test_ready_toasts_coalesce_into_one_that_opens_the_first(story):
    first = make_job(story, status=JobStatus.READY)
    second = make_job(factories.make_story(project=story.project, key="SHOP-13"), status=JobStatus.READY)
    html = render_jobs_toast([ended_entry(first), ended_entry(second)])
    assert html.count('class="toast ') == 1
    assert "2 stories ready to review" in html
    assert f'href="/generation/jobs/{first.pk}/review"' in html


def test_failed_toast_gives_the_reason_escaped(story):
    job = make_job(story, status=JobStatus.FAILED, error="<i>quota</i> exceeded")
    html = render_job_toast(job)
    assert 'class="toast toast-error" role="alert"' in html
    assert "Generation for SHOP-12 failed: &lt;i&gt;quota&lt;/i&gt; exceeded" in html
    assert "Review" not in html


def test_a_badge_has_the_same_version_until_what_it_shows_changes(story):
    job = make_job(story, status=JobStatus.RUNNING, progress=40, phase="Batch 2 of 3")
    first = badge_context(annotated(story), job)["version"]
    assert badge_context(annotated(story), job)["version"] == first  # the page's badge and the stream's copy

    job.progress = 70
    assert badge_context(annotated(story), job)["version"] != first
    assert f'data-version="{badge_context(annotated(story), job)["version"]}"' in render_badge(annotated(story), job)
