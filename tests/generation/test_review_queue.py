"""The review queue: "N stories ready to review" on the stories page, Previous / Next in the review dialog, and
*Save and next*, for the stories the user may edit, in the table's order."""

import json

from django.urls import reverse

from generation import review_queue
from generation.models import GenerationJob, JobStatus
from stories import permissions
from stories.models import Role, TestCase
from tests import factories
from tests.generation.test_views import HTMX, ready_job, review_data


def make_queue(project, keys=("SHOP-10", "SHOP-2", "SHOP-9")) -> dict:
    return {key: ready_job(factories.make_story(project=project, key=key), suggestions=1) for key in keys}


def test_the_queue_is_every_editable_ready_story_in_table_order(user, project):
    jobs = make_queue(project)
    GenerationJob.objects.create(story=jobs["SHOP-9"].story, status=JobStatus.RUNNING)  # its latest is not ready
    other = factories.make_project(key="BANK")
    ready_job(factories.make_story(project=other, key="BANK-1"))  # not a member: not in the queue
    viewer_only = factories.make_project(key="ACME")
    permissions.grant(user, viewer_only, Role.VIEWER)
    ready_job(factories.make_story(project=viewer_only, key="ACME-1"))  # may read, not review
    assert [job.story.key for job in review_queue.ready_jobs(user)] == ["SHOP-2", "SHOP-10"]
    assert review_queue.around(user, jobs["SHOP-2"]) == {
        "position": 1,
        "total": 2,
        "previous": None,
        "next": jobs["SHOP-10"].pk,
    }


def test_the_stories_page_offers_the_queue_opening_the_first(client_logged_in, project):
    jobs = make_queue(project)
    page = client_logged_in.get(reverse("stories:list")).content.decode()
    assert "3 stories ready to review</a>" in page
    assert f'hx-get="/generation/jobs/{jobs["SHOP-2"].pk}/review?queue=1"' in page
    button = client_logged_in.get(reverse("generation:review_queue"), headers=HTMX).content.decode()
    assert button.strip().startswith('<div id="review-queue"') and "3 stories ready to review" in button


def test_the_review_dialog_walks_the_queue(client_logged_in, project):
    jobs = make_queue(project)
    html = client_logged_in.get(reverse("generation:review", args=[jobs["SHOP-9"].pk]), headers=HTMX).content.decode()
    assert "2 of 3 ready to review" in html
    assert f'hx-get="/generation/jobs/{jobs["SHOP-2"].pk}/review"' in html  # Previous
    assert f'hx-get="/generation/jobs/{jobs["SHOP-10"].pk}/review"' in html  # Next
    assert ">Save and next →</button>" in html
    last = client_logged_in.get(reverse("generation:review", args=[jobs["SHOP-10"].pk]), headers=HTMX)
    assert "Save and next" not in last.content.decode() and "Next →" not in last.content.decode()


def test_save_and_next_saves_then_answers_with_the_next_review(client_logged_in, project):
    jobs = make_queue(project)
    data = {**review_data(jobs["SHOP-2"]), "then": "next"}
    response = client_logged_in.post(reverse("generation:save", args=[jobs["SHOP-2"].pk]), data, headers=HTMX)
    html = response.content.decode()
    assert TestCase.objects.filter(story=jobs["SHOP-2"].story).count() == 1
    assert response["HX-Retarget"] == "closest dialog" and response["HX-Reswap"] == "outerHTML"
    assert '<dialog class="modal review-dialog" aria-label="Review tests for SHOP-9"' in html
    assert "1 of 2 ready to review" in html
    assert f'id="story-{jobs["SHOP-2"].story_id}-badge"' in html and 'hx-swap-oob="outerHTML"' in html
    assert "✓ Saved 1 test case to SHOP-2.</span>" in html  # said in the next dialog
    assert "review-queue-changed" in json.loads(response["HX-Trigger"])
