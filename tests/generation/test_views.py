"""The generation pages and dialogs: generate form, queueing, review, save (edits, deletes, inline Gherkin errors),
discard and cancel, each with HTMX (fragments, out-of-band badges, toasts) and without JavaScript (pages, redirects)."""

import json

import pytest
from django.urls import reverse

from generation.models import GenerationJob, JobStatus, SuggestedTestCase
from stories.models import TestCase
from tests import factories

HTMX = {"HX-Request": "true"}
STEPS = "Given a shopper with an empty cart\nWhen they add a book\nThen the cart shows 1 item"


def toasts(response) -> list[dict]:
    """The toasts an HTMX response raises through HX-Trigger or HX-Trigger-After-Swap (level, message and any
    details; the HTML that carries them is checked once, in
    test_queue_with_htmx_answers_badges_out_of_band_and_a_toast)."""
    toast = after_swap(response).get("toast") or json.loads(response.headers.get("HX-Trigger", "{}")).get("toast")
    toast = [toast] if isinstance(toast, dict) else list(toast or [])
    return [{k: v for k, v in t.items() if k != "html"} for t in toast]


def after_swap(response) -> dict:
    """The events an HTMX response raises once its swap is done."""
    return json.loads(response.headers.get("HX-Trigger-After-Swap", "{}"))


def ready_job(story, suggestions: int = 3, **fields) -> GenerationJob:
    job = GenerationJob.objects.create(story=story, status=JobStatus.READY, progress=100, generator="offline", **fields)
    for n in range(suggestions):
        SuggestedTestCase.objects.create(
            job=job,
            position=n,
            title=f"Suggested case {n + 1}",
            objective="Check the cart.",
            test_type="FUNCTIONAL",
            priority="high",
            scenarios=[
                {"name": f"Scenario {n + 1}.{k + 1}", "steps": STEPS, "tags": ["@cart"], "criteria": [1, 2]}
                for k in range(2)
            ],
        )
    return job


def review_data(job, **overrides) -> dict:
    """What the review form posts when nothing was edited (as the browser sends it): case-N-… for test case N and
    case-N-sc-M-… for its scenario M, with the formsets' management fields."""
    suggestions = list(job.suggestions.all())
    data: dict = {"case-TOTAL_FORMS": len(suggestions), "case-INITIAL_FORMS": len(suggestions)}
    for i, suggestion in enumerate(suggestions):
        prefix = f"case-{i}"
        data[f"{prefix}-suggestion"] = suggestion.pk
        data[f"{prefix}-title"] = suggestion.title
        data[f"{prefix}-test_type"] = suggestion.test_type
        data[f"{prefix}-priority"] = suggestion.priority
        data[f"{prefix}-sc-TOTAL_FORMS"] = len(suggestion.scenarios)
        data[f"{prefix}-sc-INITIAL_FORMS"] = len(suggestion.scenarios)
        for j, scenario in enumerate(suggestion.scenarios):
            data[f"{prefix}-sc-{j}-name"] = scenario["name"]
            data[f"{prefix}-sc-{j}-tags"] = " ".join(scenario.get("tags", []))
            data[f"{prefix}-sc-{j}-steps"] = scenario["steps"]
            data[f"{prefix}-sc-{j}-criteria"] = " ".join(map(str, scenario.get("criteria", [])))
    data.update(overrides)
    return data


# --- The generate form ------------------------------------------------------------------------------------------


def test_generate_dialog_offers_the_options_with_their_defaults(client_logged_in, story):
    response = client_logged_in.get(reverse("generation:generate"), {"stories": story.key}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.strip().startswith('<dialog class="modal generate-dialog"')
    assert f'<input type="hidden" name="stories" value="{story.key}">' in html
    assert "Add items to the cart" in html
    assert 'name="test_cases" min="1" max="10" value="5"' in html
    assert 'name="scenarios_per_test" min="1" max="10" value="3"' in html
    assert 'value="FUNCTIONAL" checked' in html and 'value="UI" checked' in html
    assert 'value="SECURITY">' in html or 'value="PERFORMANCE">' in html  # other types offered, unchecked
    assert "Generator: <strong>Offline" in html
    assert f'hx-post="{reverse("generation:queue")}"' in html
    # The dialog closes as its own request leaves (not when the estimate inside it reloads).
    assert "hx-on::before-request=\"if (event.target === this) this.closest('dialog')?.close()\"" in html


def test_generate_page_without_javascript_is_a_full_page_form(client_logged_in, story, project):
    other = factories.make_story(project=project, key="SHOP-13")
    response = client_logged_in.get(
        reverse("generation:generate"), {"stories": [story.key, other.key, "NOPE-1"], "next": "/stories/?q=cart"}
    )
    html = response.content.decode()
    assert "<html" in html and "<dialog" not in html
    assert f'method="post" action="{reverse("generation:queue")}"' in html
    assert '<input type="hidden" name="next" value="/stories/?q=cart">' in html
    assert "<strong>SHOP-12</strong>, " in html and "<strong>SHOP-13</strong>" in html
    assert "Unknown stories: NOPE-1" in html


def test_generate_form_without_stories_cannot_be_sent(client_logged_in, db):
    html = client_logged_in.get(reverse("generation:generate"), headers=HTMX).content.decode()
    assert "Select at least one story in the table first." in html
    assert '<button type="submit" disabled>Queue generation</button>' in html


# --- Queueing ---------------------------------------------------------------------------------------------------


def test_queue_with_htmx_answers_badges_out_of_band_and_a_toast(
    client_logged_in, story, project, django_capture_on_commit_callbacks
):
    other = factories.make_story(project=project, key="SHOP-13")
    with django_capture_on_commit_callbacks(execute=True):
        response = client_logged_in.post(
            reverse("generation:queue"),
            {"stories": [story.key, other.key], "test_cases": "2", "scenarios_per_test": "4", "test_types": ["UI"]},
            headers=HTMX,
        )
    html = response.content.decode()
    assert response.status_code == 200
    jobs = {job.story_id: job for job in GenerationJob.objects.all()}
    assert set(jobs) == {story.pk, other.pk}
    assert (jobs[story.pk].test_cases, jobs[story.pk].scenarios_per_test, jobs[story.pk].test_types) == (2, 4, ["UI"])
    assert jobs[story.pk].task_id  # on the queue
    for pk in (story.pk, other.pk):
        assert f'id="story-{pk}-badge" class="badge badge-queued"' in html
    assert html.count('hx-swap-oob="outerHTML"') == 2
    assert toasts(response) == [{"level": "info", "message": "Generating tests for 2 stories"}]
    toast_html = json.loads(response.headers["HX-Trigger"])["toast"]["html"]  # the one toast partial
    assert toast_html.startswith('<div class="toast toast-info" role="status" data-toast-key="queued">')
    assert "Generating tests for 2 stories" in toast_html and "<html" not in toast_html


def test_bulk_queue_with_refusals_is_one_summary_toast_listing_every_refusal(
    client_logged_in, story, django_capture_on_commit_callbacks
):
    other = factories.make_story(project=story.project, key="SHOP-13")
    with django_capture_on_commit_callbacks(execute=True):
        response = client_logged_in.post(
            reverse("generation:queue"),
            {"stories": [story.key, "NOPE-1", other.key, "NOPE-2"], "test_types": ["UI"]},
            headers=HTMX,
        )
    [toast] = toasts(response)
    assert toast["level"] == "warning"
    assert toast["message"] == "Generating tests for 2 stories · 2 could not be queued:"
    assert [line.split(":")[0] for line in toast["details"]] == ["NOPE-1", "NOPE-2"]
    html = json.loads(response.headers["HX-Trigger"])["toast"]["html"]
    assert html.count("<li>") == 2


def test_queue_one_story_names_it_in_the_toast(client_logged_in, story, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_logged_in.post(
            reverse("generation:queue"), {"stories": story.key, "test_types": ["FUNCTIONAL", "UI"]}, headers=HTMX
        )
    assert toasts(response)[0]["message"] == "Generating tests for SHOP-12"
    job = GenerationJob.objects.get()
    assert (job.test_cases, job.scenarios_per_test) == (5, 3)


def test_queue_without_javascript_redirects_back_with_a_message(
    client_logged_in, story, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_logged_in.post(
            reverse("generation:queue"),
            {"stories": story.key, "test_types": "UI", "next": "/stories/?q=cart"},
            follow=True,
        )
    assert response.redirect_chain == [("/stories/?q=cart", 302)]
    html = response.content.decode()
    assert "Generating tests for SHOP-12" in html
    assert f'id="story-{story.pk}-badge" class="badge badge-queued"' in html  # the page shows the new badge
    assert GenerationJob.objects.get().status == JobStatus.QUEUED


def test_queue_refuses_an_unsafe_next_url(client_logged_in, story, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_logged_in.post(
            reverse("generation:queue"), {"stories": story.key, "test_types": "UI", "next": "https://evil.example.com/"}
        )
    assert response["Location"] == reverse("stories:list")


def test_story_without_project_gets_an_error_toast_and_no_badge(client_logged_in, project):
    loose = factories.make_story(project=None, key="LOOSE-1")
    response = client_logged_in.post(
        reverse("generation:queue"), {"stories": loose.key, "test_types": "UI"}, headers=HTMX
    )
    assert response.content == b""
    [toast] = toasts(response)
    assert toast["level"] == "error"
    assert toast["message"].startswith("LOOSE-1: This story is not linked to a project.")
    assert not GenerationJob.objects.exists()


def test_invalid_options_are_an_error_toast(client_logged_in, story):
    response = client_logged_in.post(
        reverse("generation:queue"), {"stories": story.key, "test_cases": "50"}, headers=HTMX
    )
    assert toasts(response)[0]["level"] == "error"
    assert not GenerationJob.objects.exists()


@pytest.mark.django_db(transaction=True)  # the enqueue runs on commit, inside the request, as in production
def test_unreachable_queue_is_an_error_toast_and_no_badge(client_logged_in, story, monkeypatch):
    # The configured broker is a real Redis client pointed at a port where nothing listens.
    import django_q.tasks
    import redis
    from django_q.brokers.redis_broker import Redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    monkeypatch.setattr(Redis, "get_connection", staticmethod(lambda list_key=None: dead))
    monkeypatch.setattr(django_q.tasks, "get_broker", lambda list_key=None: Redis(list_key="dead"))
    response = client_logged_in.post(
        reverse("generation:queue"), {"stories": story.key, "test_types": "UI"}, headers=HTMX
    )
    assert response.status_code == 200
    assert "badge" not in response.content.decode()
    [toast] = toasts(response)
    assert toast["level"] == "error"
    assert "SHOP-12: Could not reach the job queue." in toast["message"]
    assert GenerationJob.objects.get().status == JobStatus.FAILED  # not left queued forever


# --- Review -----------------------------------------------------------------------------------------------------


def test_review_with_htmx_is_a_dialog_with_highlighted_gherkin(client_logged_in, story):
    job = ready_job(story)
    response = client_logged_in.get(reverse("generation:review", args=[job.pk]), headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.strip().startswith('<dialog class="modal review-dialog"')
    assert f'hx-post="{reverse("generation:save", args=[job.pk])}"' in html
    assert html.count('<article class="suggestion"') == 3
    assert '<b class="kw">Given</b> a shopper with an empty cart' in html
    assert '<b class="kw">Then</b> the cart shows 1 item' in html
    assert 'name="case-0-sc-1-steps"' in html
    assert 'name="case-0-DELETE"' in html and 'name="case-0-sc-1-DELETE"' in html
    assert "Save <span data-kept-count>3</span>" in html and "Discard" in html


def test_review_page_without_javascript(client_logged_in, story):
    job = ready_job(story, suggestions=1)
    html = client_logged_in.get(reverse("generation:review", args=[job.pk])).content.decode()
    assert "<html" in html and "<dialog" not in html
    assert f'action="{reverse("generation:save", args=[job.pk])}"' in html
    assert f'formaction="{reverse("generation:discard", args=[job.pk])}"' in html


def test_review_escapes_model_output(client_logged_in, story):
    job = ready_job(story, suggestions=0)
    SuggestedTestCase.objects.create(
        job=job,
        title='<script>alert("t")</script>',
        objective="<img src=x onerror=alert(1)>",
        scenarios=[
            {"name": "<b>n</b>", "steps": "Given <script>x()</script>\nWhen I act\nThen it works", "tags": ["@<i>"]}
        ],
    )
    html = client_logged_in.get(reverse("generation:review", args=[job.pk]), headers=HTMX).content.decode()
    assert "<script>" not in html and "<img src=x" not in html and "<b>n</b>" not in html
    assert 'value="&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;"' in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert '<b class="kw">Given</b> &lt;script&gt;x()&lt;/script&gt;' in html


@pytest.mark.parametrize("status", [JobStatus.RUNNING, JobStatus.SAVED, JobStatus.DISCARDED])
def test_review_of_a_job_that_is_not_ready_is_a_warning(client_logged_in, story, status):
    job = GenerationJob.objects.create(story=story, status=status)
    response = client_logged_in.get(reverse("generation:review", args=[job.pk]), headers=HTMX)
    assert response.content == b""
    assert response["HX-Reswap"] == "none"
    assert toasts(response)[0]["level"] == "warning"
    plain = client_logged_in.get(reverse("generation:review", args=[job.pk]))
    assert plain["Location"] == story.get_absolute_url()


# --- Save -------------------------------------------------------------------------------------------------------


def test_save_keeps_edits_drops_deleted_cases_and_updates_the_badge(client_logged_in, story):
    job = ready_job(story)
    data = review_data(job)
    data["case-0-title"] = "Cart counts one book"
    data["case-0-priority"] = "low"
    data["case-0-sc-0-steps"] = STEPS.replace("a book", "a novel")
    data["case-1-DELETE"] = "on"  # the delete checkbox
    data["case-2-DELETE"] = "on"

    response = client_logged_in.post(reverse("generation:save", args=[job.pk]), data, headers=HTMX)

    assert response.status_code == 200
    [saved] = TestCase.objects.filter(story=story)
    assert (saved.title, saved.priority, saved.source_job_id) == ("Cart counts one book", "low", job.pk)
    assert [s.steps.splitlines()[1] for s in saved.scenarios.order_by("position")] == [
        "When they add a novel",
        "When they add a book",
    ]
    job.refresh_from_db()
    assert job.status == JobStatus.SAVED
    html = response.content.decode()
    assert f'id="story-{story.pk}-badge" class="badge badge-count"' in html
    assert 'hx-swap-oob="outerHTML"' in html and ">1 test case</span>" in html
    assert response["HX-Reswap"] == "none"
    assert "close-dialog" in after_swap(response)
    assert toasts(response) == [
        {"level": "success", "message": "Saved 1 test case to SHOP-12.", "link": story.get_absolute_url()}
    ]

    again = client_logged_in.post(reverse("generation:save", args=[job.pk]), data, headers=HTMX)
    assert toasts(again)[0]["message"] == "Saved 1 test case to SHOP-12."
    assert TestCase.objects.filter(story=story).count() == 1  # a second click saves nothing twice


def test_invalid_gherkin_is_shown_inline_and_nothing_is_saved(client_logged_in, story):
    job = ready_job(story, suggestions=2)
    data = review_data(job)
    data["case-0-sc-1-steps"] = "Given a cart\nclick the button"
    data["case-0-title"] = "Edited title survives"
    data["case-1-DELETE"] = "on"

    response = client_logged_in.post(reverse("generation:save", args=[job.pk]), data, headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.strip().startswith('<form id="review-form"')  # swaps itself in place, inside the dialog
    assert "Step line 2: &#x27;click the button&#x27; is not a Gherkin step" in html
    assert '<div class="scenario invalid" id="case-0-sc-1"' in html
    assert 'aria-invalid="true"' in html
    assert 'value="Edited title survives"' in html
    assert 'name="case-1-DELETE" id="id_case-1-DELETE" checked' in html  # deleted before the failed save: stays so
    assert toasts(response)[0]["level"] == "error"
    assert not TestCase.objects.exists()
    job.refresh_from_db()
    assert job.status == JobStatus.READY


def test_save_without_javascript_redirects_to_the_story(client_logged_in, story):
    job = ready_job(story, suggestions=2)
    response = client_logged_in.post(reverse("generation:save", args=[job.pk]), review_data(job), follow=True)
    assert response.redirect_chain == [(story.get_absolute_url(), 302)]
    html = response.content.decode()
    assert "Saved 2 test cases to SHOP-12." in html
    assert html.count('<pre class="gherkin">') == 4


def test_save_of_a_running_job_saves_nothing(client_logged_in, story):
    job = GenerationJob.objects.create(story=story, status=JobStatus.RUNNING)
    response = client_logged_in.post(reverse("generation:save", args=[job.pk]), {}, headers=HTMX)
    assert response["HX-Reswap"] == "none"
    assert toasts(response)[0]["level"] == "warning"
    assert not TestCase.objects.exists()


def test_saving_with_every_suggestion_deleted_discards_the_job(client_logged_in, story):
    job = ready_job(story, suggestions=2)
    review = client_logged_in.get(reverse("generation:review", args=[job.pk]), headers=HTMX).content.decode()
    assert "Saving with every test case deleted discards the suggestions." in review
    data = review_data(job, **{"case-0-DELETE": "on", "case-1-DELETE": "on"})
    response = client_logged_in.post(reverse("generation:save", args=[job.pk]), data, headers=HTMX)
    job.refresh_from_db()
    assert job.status == JobStatus.DISCARDED  # never "saved with 0 test cases"
    assert not job.suggestions.exists() and not TestCase.objects.exists()
    assert toasts(response) == [
        {"level": "info", "message": "Nothing was kept, so the suggestions for SHOP-12 were discarded."}
    ]
    assert "close-dialog" in after_swap(response)


# --- Discard and cancel -----------------------------------------------------------------------------------------


def test_discard_with_htmx(client_logged_in, story):
    job = ready_job(story)
    response = client_logged_in.post(reverse("generation:discard", args=[job.pk]), headers=HTMX)
    job.refresh_from_db()
    assert job.status == JobStatus.DISCARDED
    assert not job.suggestions.exists()
    html = response.content.decode()
    assert "badge-count" in html and ">No tests yet</span>" in html
    assert "close-dialog" in after_swap(response)
    assert toasts(response)[0]["message"] == "Discarded the suggestions for SHOP-12."


def test_discard_without_javascript(client_logged_in, story):
    job = ready_job(story)
    response = client_logged_in.post(reverse("generation:discard", args=[job.pk]))
    assert response["Location"] == reverse("stories:list")
    assert GenerationJob.objects.get().status == JobStatus.DISCARDED


def test_cancel_a_running_job_from_its_badge(client_logged_in, story):
    job = GenerationJob.objects.create(story=story, status=JobStatus.RUNNING, progress=40)
    response = client_logged_in.post(reverse("generation:cancel", args=[job.pk]), headers=HTMX)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert "badge-count" in response.content.decode()
    assert toasts(response)[0] == {"level": "info", "message": "Cancelled generation for SHOP-12."}

    again = client_logged_in.post(reverse("generation:cancel", args=[job.pk]))
    assert again["Location"] == reverse("stories:list")
    assert GenerationJob.objects.get().status == JobStatus.CANCELLED


# --- The stories page wiring, and login -------------------------------------------------------------------------


def test_stories_page_has_one_stream_generate_buttons_and_live_badges(client_logged_in, story, project):
    other = factories.make_story(project=project, key="SHOP-13")
    job = ready_job(other, suggestions=1)
    html = client_logged_in.get(reverse("stories:list")).content.decode()
    assert html.count("sse-connect=") == 1
    assert f'sse-connect="/events/stories?ids={story.pk},{other.pk}"' in html or (
        f'sse-connect="/events/stories?ids={other.pk},{story.pk}"' in html
    )
    assert 'sse-swap="job-finished" hx-target="#toasts" hx-swap="beforeend"' in html
    generate = f"{reverse('generation:generate')}?stories={story.key}"
    assert f'hx-get="{generate}" hx-target="body" hx-swap="beforeend"' in html
    assert f'href="{generate}&amp;next=/stories/"' in html
    assert f'name="stories" value="{story.key}" form="generate-selected"' in html
    assert '<form id="generate-selected" method="get"' in html
    assert f'href="{reverse("generation:review", args=[job.pk])}"' in html  # the ready badge, on first load
    assert f'id="story-{story.pk}-badge" class="badge badge-count"' in html


def test_pages_need_login(client, story):
    job = ready_job(story)
    for url in [
        reverse("generation:generate"),
        reverse("generation:review", args=[job.pk]),
    ]:
        assert client.get(url).status_code == 302
    for name in ["generation:save", "generation:discard", "generation:cancel"]:
        response = client.post(reverse(name, args=[job.pk]))
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert client.post(reverse("generation:queue"), {"stories": story.key}).status_code == 302
    assert not GenerationJob.objects.exclude(pk=job.pk).exists()
    assert GenerationJob.objects.get().status == JobStatus.READY


def test_the_story_page_offers_generation_and_shows_the_live_badge(client_logged_in, story):
    GenerationJob.objects.create(story=story, status=JobStatus.RUNNING, progress=40, phase="Batch 2 of 3")
    page = client_logged_in.get(f"/stories/{story.key}/").content.decode()
    assert f'sse-connect="/events/stories?ids={story.pk}"' in page
    assert f'id="story-{story.pk}-badge"' in page
    assert "Generating 40%" in page
    assert f"/generation/generate/?stories={story.key}" in page


def test_saving_from_the_story_page_refreshes_it_to_show_the_new_test_cases(client_logged_in, story):
    job = ready_job(story, suggestions=1)
    response = client_logged_in.post(
        f"/generation/jobs/{job.pk}/save",
        review_data(job),
        headers={"HX-Request": "true", "HX-Current-URL": f"http://testserver/stories/{story.key}/"},
    )
    assert response.headers["HX-Refresh"] == "true"
    page = client_logged_in.get(f"/stories/{story.key}/").content.decode()
    assert "Suggested case 1" in page
    assert "Saved 1 test case to SHOP-12." in page
