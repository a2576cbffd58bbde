"""What each role sees and may do on the pages and the API, beyond the status codes of the permission matrix."""

import asyncio

import pytest
from django.test import Client
from django.urls import reverse

from generation.models import GenerationJob, JobStatus
from stories import permissions
from stories.models import Role, UserStory
from tests import factories
from tests.sse import Stream, session_key


def signed_in(role, project) -> Client:
    user = factories.make_user()
    if role:
        permissions.grant(user, project, role)
    client = Client()
    client.force_login(user)
    client.user = user
    return client


def test_a_viewer_lists_only_their_projects_with_counts_and_filters_to_match(shop, bank):
    factories.make_story(project=shop, key="SHOP-1", title="Shop story")
    factories.make_story(project=bank, key="BANK-1", title="Bank story")
    factories.make_story(project=None, key="LOOSE-1", title="Loose story")
    viewer = signed_in(Role.VIEWER, shop)
    page = viewer.get(reverse("stories:list")).content.decode()
    assert "Shop story" in page and "Loose story" in page and "Bank story" not in page
    assert "2 stories" in page
    assert '<option value="BANK"' not in page  # the project switcher offers only their projects
    # Filtering by a project they are not on shows nothing rather than that project's stories.
    page = viewer.get(reverse("stories:list"), {"project": "BANK"}).content.decode()
    assert "Bank story" not in page and "No stories match these filters." in page


def test_a_viewer_gets_no_controls_that_would_change_anything(shop):
    story = factories.make_story(project=shop, key="SHOP-1")
    test_case = factories.make_test_case(story)
    viewer = signed_in(Role.VIEWER, shop)
    listing = viewer.get(reverse("stories:list")).content.decode()
    assert 'class="row-select"' not in listing and "Generate tests" not in listing and "New story" not in listing
    detail = viewer.get(story.get_absolute_url()).content.decode()
    assert reverse("stories:edit_story", args=[story.key]) not in detail
    assert reverse("stories:delete_test_case", args=[test_case.pk]) not in detail
    assert reverse("stories:download_feature", args=[test_case.pk]) in detail  # reading and exporting is fine
    assert "ask a project owner to make you an editor" in detail
    editor = signed_in(Role.EDITOR, shop)
    detail = editor.get(story.get_absolute_url()).content.decode()
    assert reverse("stories:edit_story", args=[story.key]) in detail
    assert reverse("stories:delete_test_case", args=[test_case.pk]) in detail


def test_an_editor_cannot_move_a_story_into_a_project_they_only_read(shop, bank):
    story = factories.make_story(project=shop, key="SHOP-1", title="Shop story")
    editor = signed_in(Role.EDITOR, shop)
    permissions.grant(editor.user, bank, Role.VIEWER)
    form = editor.get(reverse("stories:edit_story", args=[story.key])).content.decode()
    assert '<option value="' + str(bank.pk) + '"' not in form
    data = {"project": bank.pk, "key": story.key, "title": "Moved", "priority": "medium", "status": "todo"}
    response = editor.post(reverse("stories:edit_story", args=[story.key]), data)
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert UserStory.objects.get(pk=story.pk).project == shop


def test_the_api_answers_404_and_403_as_json(shop, bank):
    story = factories.make_story(project=shop, key="SHOP-1")
    job = GenerationJob.objects.create(story=story, status=JobStatus.QUEUED)
    outsider = signed_in(Role.OWNER, bank)
    viewer = signed_in(Role.VIEWER, shop)
    for client, status in [(outsider, 404), (viewer, 403)]:
        response = client.post(reverse("api:generate", args=[story.key]), {"test_types": "UI"})
        assert response.status_code == status and "error" in response.json()
    assert outsider.get(reverse("api:job_status", args=[job.pk])).json()["error"].startswith("There is no job")
    assert viewer.get(reverse("api:job_status", args=[job.pk])).json()["status"] == "queued"
    assert "not change it" in viewer.post(reverse("api:generate", args=[story.key])).json()["error"]


def test_a_viewer_cannot_queue_and_an_outsider_learns_nothing(shop, bank):
    factories.make_story(project=shop, key="SHOP-1")
    viewer = signed_in(Role.VIEWER, shop)
    assert viewer.post(reverse("generation:queue"), {"stories": "SHOP-1"}).status_code == 403
    outsider = signed_in(Role.EDITOR, bank)
    response = outsider.post(reverse("generation:queue"), {"stories": "SHOP-1"}, follow=True)
    assert "There is no story with the key &#x27;SHOP-1&#x27;." in response.content.decode()
    assert not GenerationJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_stream_carries_only_the_stories_its_user_may_see(shop, bank):
    from generation import events

    mine = factories.make_story(project=shop, key="SHOP-1")
    theirs = factories.make_story(project=bank, key="BANK-1")
    viewer = factories.make_user()
    permissions.grant(viewer, shop, Role.VIEWER)
    session = session_key(viewer)

    async def status(ids) -> int:
        stream = await Stream(f"/events/stories?ids={ids}", session).open()
        await stream.close()
        return stream.status

    assert asyncio.run(status(theirs.pk)) == 404
    assert asyncio.run(status(f"{mine.pk},{theirs.pk}")) == 200
    assert events.visible_story_ids(viewer, [mine.pk, theirs.pk]) == [mine.pk]
    events.watcher.close_connection()


def test_a_refusal_explains_itself_on_a_page_of_the_app(shop):
    story = factories.make_story(project=shop, key="SHOP-1")
    viewer = signed_in(Role.VIEWER, shop)
    response = viewer.get(reverse("stories:edit_story", args=[story.key]))
    assert response.status_code == 403
    html = response.content.decode()
    assert "<h1>Not allowed</h1>" in html and "ask one of its owners for editor access" in html


def test_a_viewer_s_rows_mark_the_live_badge_read_only(shop):
    story = factories.make_story(project=shop, key="SHOP-1")
    GenerationJob.objects.create(story=story, status=JobStatus.READY)
    viewer = signed_in(Role.VIEWER, shop)
    assert 'class="story-row read-only"' in viewer.get(reverse("stories:list")).content.decode()
    assert 'class="story-live read-only"' in viewer.get(story.get_absolute_url()).content.decode()
    editor = signed_in(Role.EDITOR, shop)
    assert 'class="story-row"' in editor.get(reverse("stories:list")).content.decode()
