"""Every change to a story, test case or scenario is recorded with who and why; pages show it and restore."""

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from generation.models import GenerationJob, JobStatus, SuggestedTestCase
from stories import history, permissions
from stories.models import Role, Scenario, TestCase, UserStory
from tests import factories
from tests.generation.test_views import review_data

STEPS = "Given a shopper with an empty cart\nWhen they add a book\nThen the cart shows 1 item"


def member(role, project) -> Client:
    user = factories.make_user(f"{role}-{project.key.lower()}")
    permissions.grant(user, project, role)
    client = Client()
    client.force_login(user)
    client.user = user
    return client


def test_an_edit_through_the_page_names_the_editor(shop):
    story = factories.make_story(project=shop, key="SHOP-1", title="Old title")
    editor = member(Role.EDITOR, shop)
    data = {"project": shop.pk, "key": "SHOP-1", "title": "New title", "priority": "high", "status": "todo"}
    assert editor.post(reverse("stories:edit_story", args=[story.key]), data).status_code == 302
    latest = story.history.first()
    assert (latest.history_type, latest.history_user, latest.title) == ("~", editor.user, "New title")
    assert {"title", "priority"} <= {c.field for c in latest.diff_against(latest.prev_record).changes}


def test_an_import_names_the_user_and_the_file(shop, tmp_path):
    lead = factories.make_user("importer")
    csv = tmp_path / "backlog.csv"
    csv.write_text("key,title,project\nSHOP-7,Pay by card,SHOP\n")
    call_command("import_stories", str(csv), user="importer", stdout=None)
    created = UserStory.objects.get(key="SHOP-7").history.get()
    assert (created.history_type, created.history_user, created.history_change_reason) == (
        "+",
        lead,
        "import_stories backlog.csv",
    )
    csv.write_text("key,title,project\nSHOP-7,Pay by card or voucher,SHOP\n")
    call_command("import_stories", str(csv), stdout=None)  # no --user: a script
    updated = UserStory.objects.get(key="SHOP-7").history.first()
    assert (updated.history_type, updated.history_user, updated.title) == ("~", None, "Pay by card or voucher")


def test_a_review_save_names_the_reviewer_and_links_the_job(shop):
    story = factories.make_story(project=shop, key="SHOP-1")
    job = GenerationJob.objects.create(story=story, status=JobStatus.READY, generator="offline")
    SuggestedTestCase.objects.create(
        job=job, title="Adds a book", scenarios=[{"name": "One book", "steps": STEPS, "tags": []}]
    )
    editor = member(Role.EDITOR, shop)
    data = review_data(job, confirm_uncovered="1")
    response = editor.post(reverse("generation:save", args=[job.pk]), data)
    assert response.status_code == 302, response.content.decode()[-3000:]
    test_case = TestCase.objects.get()
    record = test_case.history.get()
    assert (record.history_user, record.source_job_id) == (editor.user, job.pk)
    assert record.history_change_reason == f"saved from review of job {job.pk}"
    scenario_record = Scenario.history.get()  # bulk-created, recorded all the same
    assert (scenario_record.history_user, scenario_record.test_case_id) == (editor.user, test_case.pk)


def test_an_admin_change_names_the_admin(shop, admin_user_logged_in):
    story = factories.make_story(project=shop, key="SHOP-1", title="Before")
    url = reverse("admin:stories_userstory_change", args=[story.pk])
    page = admin_user_logged_in.get(url)
    form = page.context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}
    data.update(
        {
            "title": "Changed in the admin",
            "acceptance_criteria": "[]",
            "labels": "[]",
            "test_cases-TOTAL_FORMS": "0",
            "test_cases-INITIAL_FORMS": "0",
        }
    )
    response = admin_user_logged_in.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    latest = story.history.first()
    assert (latest.title, latest.history_user.username) == ("Changed in the admin", "admin")


def test_the_test_case_history_shows_each_version_and_a_gherkin_diff(shop):
    story = factories.make_story(project=shop, key="SHOP-1")
    editor = member(Role.EDITOR, shop)
    with history.recorded_as(editor.user):
        test_case = factories.make_test_case(story, title="Cart")
    scenario = test_case.scenarios.get()
    viewer = member(Role.VIEWER, shop)
    with history.recorded_as(editor.user, "typo"):
        scenario.steps = scenario.steps.replace("Then the cart shows 1 item", "Then the cart shows one item")
        scenario.save()
    page = viewer.get(reverse("stories:test_case_history", args=[test_case.pk])).content.decode()
    assert "2 versions" in page
    assert '<span class="diff-del">-    Then the cart shows 1 item</span>' in page
    assert '<span class="diff-add">+    Then the cart shows one item</span>' in page
    assert "typo" in page and editor.user.username in page
    compared = viewer.get(reverse("stories:test_case_history", args=[test_case.pk]), {"from": 1, "to": 2})
    assert "Version 1 → version 2" in compared.content.decode()
    story_page = viewer.get(reverse("stories:story_history", args=[story.key])).content.decode()
    assert "Test case “Cart” created" in story_page


def test_a_deleted_test_case_is_restored_by_an_editor_with_its_scenarios(shop):
    story = factories.make_story(project=shop, key="SHOP-1")
    test_case = factories.make_test_case(story, title="Gone for a moment", scenarios=2)
    scenario_ids = sorted(test_case.scenarios.values_list("pk", flat=True))
    editor, viewer = member(Role.EDITOR, shop), member(Role.VIEWER, shop)
    assert editor.post(reverse("stories:delete_test_case", args=[test_case.pk])).status_code == 302
    assert not TestCase.objects.exists()

    listing = viewer.get(reverse("stories:story_history", args=[story.key])).content.decode()
    assert "Deleted test cases" in listing and "Gone for a moment" in listing
    assert reverse("stories:restore_test_case", args=[test_case.pk]) not in listing  # viewers cannot restore
    assert viewer.post(reverse("stories:restore_test_case", args=[test_case.pk])).status_code == 403

    response = editor.post(reverse("stories:restore_test_case", args=[test_case.pk]))
    assert response.status_code == 302 and response["Location"].endswith(f"#test-case-{test_case.pk}")
    restored = TestCase.objects.get(pk=test_case.pk)
    assert restored.title == "Gone for a moment"
    assert sorted(restored.scenarios.values_list("pk", flat=True)) == scenario_ids
    assert restored.history.first().history_change_reason == "restored"
    assert restored.history.first().history_user == editor.user
    again = editor.post(reverse("stories:restore_test_case", args=[test_case.pk]), follow=True)
    assert "This test case is not deleted." in again.content.decode()


def test_history_of_another_project_is_not_found(shop, bank):
    story = factories.make_story(project=shop, key="SHOP-1")
    test_case = factories.make_test_case(story)
    outsider = member(Role.OWNER, bank)
    assert outsider.get(reverse("stories:story_history", args=[story.key])).status_code == 404
    assert outsider.get(reverse("stories:test_case_history", args=[test_case.pk])).status_code == 404
    assert outsider.get(reverse("stories:test_case_history", args=[999999])).status_code == 404


@pytest.mark.parametrize("before, after", [("", "Feature: A\n"), ("Feature: A\n", "")])
def test_gherkin_diff_marks_added_and_removed_lines(before, after):
    kinds = {kind for kind, _ in history.gherkin_diff(before, after)}
    assert kinds & {"add", "del"}


def test_an_api_update_with_a_token_names_the_token_s_user(shop):
    from api.models import ApiToken
    from tests.api.conftest import ApiClient

    story = factories.make_story(project=shop, key="SHOP-1", title="Before")
    editor = factories.make_user("scripted-editor")
    permissions.grant(editor, shop, Role.EDITOR)
    _row, raw = ApiToken.objects.issue(editor, "ci")
    response = ApiClient(raw).patch("/api/stories/SHOP-1", {"title": "Renamed by a script"})
    assert response.status_code == 200
    latest = story.history.first()
    assert (latest.history_type, latest.title, latest.history_user) == ("~", "Renamed by a script", editor)


def test_an_import_from_the_import_page_names_the_editor_who_uploaded_it(shop, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from stories import tasks
    from stories.models import ImportJob

    settings.MEDIA_ROOT = tmp_path / "media"
    editor = member(Role.EDITOR, shop)
    csv = SimpleUploadedFile("backlog.csv", b"key,title\nSHOP-9,Pay by voucher\n")
    data = {"file": csv, "format": "auto", "project": shop.pk, "new_project_key": "", "types": ""}
    assert editor.post(reverse("stories:import_stories"), data).status_code == 302
    job = ImportJob.objects.get()
    tasks.parse_import(str(job.pk))
    editor.post(reverse("stories:confirm_import", args=[job.pk]))
    tasks.write_import(str(job.pk))  # in the worker, where no request names the user
    record = UserStory.objects.get(key="SHOP-9").history.get()
    assert (record.history_user, record.history_change_reason) == (editor.user, "import backlog.csv")


def test_the_admin_history_page_lists_who_changed_a_story(shop, admin_user_logged_in):
    editor = factories.make_user("eddie")
    with history.recorded_as(editor, "tidy up"):
        story = factories.make_story(project=shop, key="SHOP-1", title="Tidy")
    page = admin_user_logged_in.get(reverse("admin:stories_userstory_history", args=[story.pk])).content.decode()
    assert "eddie" in page and "tidy up" in page
