"""Projects and stories over the API, with a token."""

from generation.models import GenerationJob, JobStatus
from stories import permissions
from stories.models import Role, Scenario, UserStory
from tests import factories


def test_projects_are_listed_with_their_story_counts_and_criteria_coverage(api, story, user):
    permissions.grant(user, factories.make_project(key="EMPTY", name="Nothing yet"), Role.VIEWER)
    factories.make_project(key="HIDDEN", name="Not a member")
    case = factories.make_test_case(story, scenarios=0)
    Scenario.objects.create(test_case=case, name="One", steps="Given a\nWhen b\nThen c", criteria=[1])
    empty = {"criteria": 0, "criteria_covered": 0, "coverage_percent": None}
    shop = {"criteria": 2, "criteria_covered": 1, "coverage_percent": 50}  # the story has two criteria
    assert api.get("/api/projects").json() == [
        {"key": "EMPTY", "name": "Nothing yet", "description": "", "story_count": 0, **empty},
        {"key": "SHOP", "name": "Web shop", "description": "", "story_count": 1, **shop},
    ]


def test_stories_come_in_natural_key_order_with_a_count(api, project):
    for n in (10, 2, 1):
        factories.make_story(project=project, key=f"SHOP-{n}")
    body = api.get("/api/stories").json()
    assert body["count"] == 3
    assert [s["key"] for s in body["items"]] == ["SHOP-1", "SHOP-2", "SHOP-10"]


def test_stories_are_paginated(api, project):
    for n in range(1, 6):
        factories.make_story(project=project, key=f"SHOP-{n}")
    body = api.get("/api/stories", {"per_page": 2, "page": 3}).json()
    assert (body["count"], [s["key"] for s in body["items"]]) == (5, ["SHOP-5"])


def test_stories_filter_by_project_text_tests_and_job_status(api, story, user):
    blog = factories.make_project(key="BLOG")
    permissions.grant(user, blog, Role.VIEWER)
    other = factories.make_story(key="BLOG-1", title="Write a post", project=blog)
    factories.make_test_case(story=other)
    GenerationJob.objects.create(story=story, status=JobStatus.READY)

    def keys(**params):
        return [s["key"] for s in api.get("/api/stories", params).json()["items"]]

    assert keys(project="BLOG") == ["BLOG-1"]
    assert keys(q="cart") == ["SHOP-12"]
    assert keys(has_tests="true") == ["BLOG-1"]
    assert keys(has_tests="false") == ["SHOP-12"]
    assert keys(job_status="ready") == ["SHOP-12"]
    assert keys(job_status="none") == ["BLOG-1"]


def test_a_malformed_filter_is_a_400_never_a_500(api, story):
    for params in ({"page": "²"}, {"per_page": "abc"}, {"job_status": "sleeping"}, {"has_tests": "maybe"}):
        response = api.get("/api/stories", params)
        assert response.status_code == 400, params
        assert response.json()["code"] == "invalid_input"


def test_a_story_reads_with_its_criteria_as_a_list_and_its_latest_job(api, story):
    job = GenerationJob.objects.create(story=story, status=JobStatus.RUNNING, progress=40)
    body = api.get("/api/stories/SHOP-12").json()
    assert body["acceptance_criteria"] == story.acceptance_criteria
    assert body["project"] == "SHOP"
    assert body["latest_job"] == {
        "id": str(job.pk),
        "status": "running",
        "progress": 40,
        "status_url": f"/api/jobs/{job.pk}",
    }


def test_an_unknown_story_is_404_json(api, db):
    response = api.get("/api/stories/NOPE-1")
    assert response.status_code == 404
    assert response.json() == {"code": "story_not_found", "error": "There is no story with the key 'NOPE-1'."}


def test_a_story_is_created_through_the_same_form_as_the_page(api, project):
    response = api.post(
        "/api/stories",
        {
            "key": "SHOP-40",
            "title": "Pay with a voucher",
            "project": "SHOP",
            "acceptance_criteria": ["A valid voucher lowers the total", "  ", "An expired voucher is refused"],
            "labels": ["checkout"],
        },
    )
    assert response.status_code == 201
    story = UserStory.objects.get(key="SHOP-40")
    assert story.acceptance_criteria == ["A valid voucher lowers the total", "An expired voucher is refused"]
    assert response.json()["acceptance_criteria"] == story.acceptance_criteria


def test_creating_a_story_with_a_taken_key_or_unknown_project_says_why(api, story):
    taken = api.post("/api/stories", {"key": "SHOP-12", "title": "Again", "project": "SHOP"})
    assert taken.status_code == 400
    assert taken.json()["fields"][0]["field"] == "key"
    missing = api.post("/api/stories", {"key": "X-1", "title": "Lost", "project": "NOPE"})
    assert (missing.status_code, missing.json()["code"]) == (404, "project_not_found")
    assert api.post("/api/stories", {"key": "X-2"}).json()["code"] == "invalid_input"


def test_a_story_is_updated_field_by_field(api, story):
    response = api.patch("/api/stories/SHOP-12", {"acceptance_criteria": ["Only this one"], "status": "done"})
    assert response.status_code == 200
    story.refresh_from_db()
    assert (story.acceptance_criteria, story.status) == (["Only this one"], "done")
    assert story.title == "Add items to the cart"  # untouched


def test_unknown_urls_and_wrong_methods_answer_json(api, story):
    response = api.get("/api/nothing/here")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    response = api.delete("/api/stories/SHOP-12/generate")
    assert (response.status_code, response.json()["code"]) == (405, "method_not_allowed")
    assert response["Allow"] == "POST"


def test_the_token_sees_and_changes_only_what_its_user_may(api, user, story):
    bank = factories.make_project(key="BANK")
    factories.make_story(project=bank, key="BANK-1")
    assert [s["key"] for s in api.get("/api/stories").json()["items"]] == ["SHOP-12"]
    assert api.get("/api/stories/BANK-1").status_code == 404  # its existence is not revealed
    assert api.post("/api/stories/BANK-1/generate").json()["code"] == "story_not_found"
    assert api.post("/api/stories", {"key": "BANK-2", "title": "x", "project": "BANK"}).status_code == 404

    permissions.grant(user, bank, Role.VIEWER)
    refused = api.post("/api/stories/BANK-1/generate")
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    assert api.patch("/api/stories/BANK-1", {"title": "Renamed"}).status_code == 403
    assert api.post("/api/stories", {"key": "BANK-2", "title": "x", "project": "BANK"}).status_code == 403
    assert not GenerationJob.objects.exists()
