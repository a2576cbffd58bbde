"""Importing stories over the API: upload -> background preview (nothing written) -> confirm, with the import
page's form and workflow. The two background steps are the django-q2 task functions, called directly."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import MULTIPART_CONTENT

from stories import tasks
from stories.models import ImportJob, UserStory

EXPORTS = Path(__file__).parents[1] / "stories" / "exports"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def upload(api, name="azure-devops.csv", **fields):
    file = SimpleUploadedFile(name, (EXPORTS / name).read_bytes())
    return api.post("/api/imports", {"file": file, **fields}, content_type=MULTIPART_CONTENT)


def test_upload_preview_then_confirm(api, project, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = upload(api, project="SHOP")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["status"], body["file"], body["project"]) == ("queued", "azure-devops.csv", "SHOP")

    tasks.parse_import(body["id"])
    preview = api.get(body["status_url"]).json()
    assert preview["status"] == "preview"
    assert (preview["summary"]["rows"], preview["summary"]["created"]) == (4, 4)
    assert any("Removed" in w for w in preview["summary"]["warnings"])
    assert not UserStory.objects.filter(key__startswith="SHOP-185").exists()  # nothing written yet

    with django_capture_on_commit_callbacks(execute=False):
        assert api.post(body["confirm_url"]).json()["status"] == "importing"
    tasks.write_import(body["id"])
    assert api.get(body["status_url"]).json()["summary"]["created"] == 4
    assert UserStory.objects.filter(key__startswith="SHOP-185").count() == 4
    assert api.post(body["confirm_url"]).json()["code"] == "wrong_state"


def test_a_bad_upload_says_why(api, project):
    missing = api.post("/api/imports", {"project": "SHOP"}, content_type=MULTIPART_CONTENT)
    assert (missing.status_code, missing.json()["fields"][0]["field"]) == (400, "file")
    assert upload(api, project="NOPE").json()["code"] == "project_not_found"
    assert not ImportJob.objects.exists()


def test_cancel_and_unknown_imports(api, project, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        job_id = upload(api, project="SHOP").json()["id"]
    assert api.post(f"/api/imports/{job_id}/cancel").json()["status"] == "cancelled"
    assert api.get("/api/imports/not-a-uuid").json()["code"] == "import_not_found"
