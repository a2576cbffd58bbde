"""The import page: upload -> background parse (preview, nothing written) -> confirm (one transaction) or cancel;
the job's state on the page and on the live-updates stream; uploads kept in MEDIA_ROOT and cleaned up.

The two background steps are the django-q2 task functions called directly here (their queueing is django-q2's);
the browser test runs them in the real cluster."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from generation import events
from stories import permissions, tasks
from stories.importing import jobs
from stories.models import ImportJob, Project, Role, UserStory
from tests import factories
from tests.sse import Stream, session_key

EXPORTS = Path(__file__).parent / "exports"
HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def editor(db, project):
    lead = factories.make_user("editor")
    permissions.grant(lead, project, Role.EDITOR)
    return lead


@pytest.fixture
def client_editor(client, editor):
    client.force_login(editor)
    return client


def upload(name: str, content: bytes | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content if content is not None else (EXPORTS / name).read_bytes())


def post_file(client, file, **fields):
    data = {"file": file, "format": "auto", "project": "", "new_project_key": "", "types": "", **fields}
    return client.post(reverse("stories:import_stories"), data)


def test_the_stories_page_links_to_the_import_page_which_asks_for_a_file(client_editor, story):
    assert reverse("stories:import_stories") in client_editor.get(reverse("stories:list")).content.decode()
    page = client_editor.get(reverse("stories:import_stories")).content.decode()
    assert 'enctype="multipart/form-data"' in page
    assert '<option value="auto" selected>Recognise it</option>' in page
    assert f'<option value="{story.project.pk}">' in page


def test_only_editors_may_import(client, db, project):
    viewer = factories.make_user("viewer")
    permissions.grant(viewer, project, Role.VIEWER)
    client.force_login(viewer)
    assert client.get(reverse("stories:import_stories")).status_code == 403


def test_upload_parse_preview_confirm_writes_the_stories_in_one_go(client_editor, project, media):
    response = post_file(client_editor, upload("azure-devops.csv"), project=project.pk)
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert (job.status, job.original_name, job.target_key) == ("queued", "azure-devops.csv", "SHOP")
    stored = Path(job.upload.path)
    assert stored.parent == media / "imports" and stored.name == f"{job.pk}.csv"  # a generated name
    assert "<h2>Queued…</h2>" in client_editor.get(job.get_absolute_url()).content.decode()

    tasks.parse_import(str(job.pk))

    job.refresh_from_db()
    assert job.status == "preview"
    assert not UserStory.objects.filter(key__startswith="SHOP-185").exists()  # nothing written before confirming
    page = client_editor.get(job.get_absolute_url()).content.decode()
    assert "Azure DevOps CSV export · 4 rows · into SHOP" in page
    assert "<strong>4</strong> to create" in page and "<strong>0</strong> to update" in page
    assert "status &quot;Removed&quot; read as Done — 1 row, first on line 5" in page
    assert "User Story 2" in page
    assert f'sse-connect="/events/stories?import={job.pk}"' in page
    assert 'sse-swap="import-' in page

    answer = client_editor.post(reverse("stories:confirm_import", args=[job.pk]), headers=HTMX)
    assert answer.status_code == 200 and "<html" not in answer.content.decode()
    assert 'data-status="importing"' in answer.content.decode()
    tasks.write_import(str(job.pk))

    job.refresh_from_db()
    assert job.status == "done" and job.summary["created"] == 4
    assert list(UserStory.objects.filter(project=project).values_list("key", flat=True))[-4:] == [
        "SHOP-18540",
        "SHOP-18541",
        "SHOP-18542",
        "SHOP-18543",
    ]
    assert not stored.exists() and not job.upload  # the upload is gone once imported
    done = client_editor.get(job.get_absolute_url()).content.decode()
    assert "4 created, 0 updated, 0 unchanged" in done
    assert f'href="{reverse("stories:list")}?project=SHOP"' in done
    # A second delivery of either task does nothing.
    assert tasks.write_import(str(job.pk)) == "not confirmed"
    assert tasks.parse_import(str(job.pk)) == "not queued"


def test_a_file_with_problems_fails_with_line_numbers_and_writes_nothing(client_editor, project):
    bad = b'key,title\nA-1,"One\nA-2,Two"\n'
    post_file(client_editor, upload("bad.csv", bad), project=project.pk)
    job = ImportJob.objects.get()
    tasks.parse_import(str(job.pk))
    page = client_editor.get(job.get_absolute_url()).content.decode()
    assert "Nothing was imported" in page
    assert "bad.csv, line 2: a quote opened here is closed only on line 3 — rows in between would be merged" in page
    assert not UserStory.objects.exists()
    job.refresh_from_db()
    assert not job.upload


def test_cancel_drops_the_preview_and_its_upload(client_editor, project):
    post_file(client_editor, upload("jira-cloud.csv"))
    job = ImportJob.objects.get()
    tasks.parse_import(str(job.pk))
    path = Path(job.upload.path)
    response = client_editor.post(reverse("stories:cancel_import", args=[job.pk]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == "cancelled" and not path.exists()
    assert client_editor.post(reverse("stories:confirm_import", args=[job.pk])).status_code == 302
    job.refresh_from_db()
    assert job.status == "cancelled"  # a cancelled import cannot be confirmed
    assert not UserStory.objects.exists()


def test_rows_in_projects_the_user_does_not_edit_are_refused(client_editor, project):
    factories.make_project(key="BANK")  # the editor is not on it
    post_file(client_editor, upload("s.csv", b"key,title,project\nSHOP-1,Mine,SHOP\nBANK-1,Not mine,BANK\n"))
    job = ImportJob.objects.get()
    tasks.parse_import(str(job.pk))
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.errors == [
        's.csv, line 3, column "project": you are not an editor of project "BANK"; ask one of its owners for access'
    ]


def test_a_new_project_is_created_on_confirm_and_owned_by_the_importer(client_editor, editor):
    post_file(client_editor, upload("github-gh-cli.json"), new_project_key="search", new_project_name="Search")
    job = ImportJob.objects.get()
    tasks.parse_import(str(job.pk))
    job.refresh_from_db()
    assert job.summary["projects_created"] == ["SEARCH"] and not Project.objects.filter(key="SEARCH").exists()
    jobs.confirm(job)
    tasks.write_import(str(job.pk))
    project = Project.objects.get(key="SEARCH")
    assert permissions.role_in(editor, project) == Role.OWNER
    assert UserStory.objects.filter(project=project).count() == 3
    job.refresh_from_db()
    assert job.project == project


def test_the_form_refuses_big_files_other_kinds_and_an_existing_new_key(client_editor, project, settings):
    settings.QAFORGE_IMPORT_MAX_BYTES = 1024 * 1024
    page = post_file(client_editor, upload("big.csv", b"x" * (1024 * 1024 + 1))).content.decode()
    assert "The file is 1.0 MB; at most 1 MB can be imported." in page
    page = post_file(client_editor, upload("notes.xlsx", b"PK")).content.decode()
    assert "Choose a .csv or .json file" in page
    page = post_file(client_editor, upload("s.csv", b"key,title\n"), new_project_key="shop").content.decode()
    assert "Project SHOP exists already: choose it in the list above." in page
    assert not ImportJob.objects.exists()


def test_old_uploads_are_swept(client_editor, project):
    post_file(client_editor, upload("jira-cloud.csv"))
    job = ImportJob.objects.get()
    path = Path(job.upload.path)
    ImportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(days=2))
    assert jobs.sweep_old_uploads() == 1
    assert not path.exists()


# --- The live-updates stream ----------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_import_page_stream_pushes_the_jobs_state(editor, project, settings, tmp_path):
    job = ImportJob.objects.create(created_by=editor, project=project, original_name="a.csv", size=10)
    outsider = session_key(factories.make_user("outsider"))
    session = session_key(editor)

    def move(**fields):
        try:
            ImportJob.objects.filter(pk=job.pk).update(updated_at=timezone.now(), **fields)
        finally:
            connections.close_all()

    async def scenario():
        refused = await Stream(f"/events/stories?import={job.pk}", outsider).open()
        assert refused.status == 404
        bad = await Stream("/events/stories?import=not-a-uuid", session).open()
        assert bad.status == 400
        stream = await Stream(f"/events/stories?import={job.pk}", session).open()
        assert stream.status == 200
        first = await stream.next_event()
        assert first[0] == f"import-{job.pk}" and 'data-status="queued"' in first[1]
        await asyncio.to_thread(move, status="parsing", progress=40, rows=1200)
        _, pushed = await stream.event_containing("1200 rows read")
        assert pushed[1].startswith('<section id="import-status"') and "<html" not in pushed[1]
        await stream.close()

    try:
        asyncio.run(scenario())
    finally:
        events.watcher.close_connection()
