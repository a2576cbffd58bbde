"""Export from the browser: the dialog (story page, selected rows, a project) and the streamed download."""

import csv
import io
import zipfile

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from generation.models import GenerationJob, JobStatus
from stories import export_views, exporting
from stories.permissions import grant
from tests import factories

HTMX = {"HX-Request": "true"}


@pytest.fixture
def viewer(client, project):
    """A signed-in viewer of the SHOP project: exports need view rights only."""
    reader = factories.make_user("reader")
    grant(reader, project, "viewer")
    client.force_login(reader)
    return client


@pytest.fixture
def shop(story, project):
    factories.make_test_case(story, scenarios=2, title="Add to cart")
    factories.make_test_case(factories.make_story(project=project, key="SHOP-2"), title="Cart limits")
    return project


def download(client, **params):
    response = client.get(reverse("stories:export"), params)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


def test_the_dialog_for_selected_stories_is_a_fragment_with_the_formats(viewer, shop):
    response = viewer.get(reverse("stories:export_dialog"), {"stories": ["SHOP-12"]}, headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert '<dialog class="modal export-dialog"' in html
    assert "<strong>SHOP-12</strong>:" in html and "1 test case in 1 story" in html
    for fmt in exporting.EXPORT_FORMATS:
        assert f'value="{fmt}"' in html
    assert '<input type="hidden" name="stories" value="SHOP-12"' in html
    assert 'action="/stories/export/download/"' in html


def test_the_dialog_without_htmx_is_a_page(viewer, shop):
    response = viewer.get(reverse("stories:export_dialog"), {"project": "shop"})
    html = response.content.decode()
    assert "<html" in html and "Project <strong>SHOP</strong>:" in html and "2 test cases in 2 stories" in html


def test_a_project_downloads_as_a_streamed_zip_of_feature_files(viewer, shop):
    response, body = download(viewer, project="SHOP", format="feature")

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="SHOP-features.zip"'
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert [name.split("/")[0] for name in archive.namelist()] == ["SHOP-2", "SHOP-12"]
    assert body == b"".join(exporting.feature_zip(shop.stories.all()))


def test_selected_stories_download_as_xray_csv_with_the_excel_switch(viewer, shop):
    response, body = download(viewer, stories=["SHOP-12", "SHOP-2"], format="xray-csv", excel="on")

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="2-stories-xray-tests.csv"'
    assert body.startswith(b"\xef\xbb\xbfTest ID,Summary,")
    _, plain = download(viewer, stories=["SHOP-12"], format="xray-csv")
    assert plain.startswith(b"Test ID,")


def test_the_download_streams_a_block_at_a_time(viewer, shop, monkeypatch):
    monkeypatch.setattr(export_views, "CHUNK_BYTES", 1)
    monkeypatch.setattr(exporting.selection, "BATCH_STORIES", 1)
    response = viewer.get(reverse("stories:export"), {"project": "SHOP", "format": "json"})
    blocks = iter(response.streaming_content)
    with CaptureQueriesContext(connection) as first:
        next(blocks)
    with CaptureQueriesContext(connection) as rest:
        list(blocks)
    assert len(rest) > 0, "the second story is read only when the download gets to it"
    assert len(first) < len(first) + len(rest)


def test_nothing_to_export_says_why_and_names_the_jobs_waiting_for_review(viewer, story):
    job = GenerationJob.objects.create(story=story, status=JobStatus.READY)

    response, body = download(viewer, stories=["SHOP-12"], format="csv")
    html = body.decode()
    assert response.status_code == 400
    assert f"1 job is still waiting for review: SHOP-12 (job {str(job.pk)[:8]})" in html
    assert "disabled>Download</button>" in html


def test_stories_the_user_may_not_see_are_not_exported(client, shop):
    outsider = factories.make_user("outsider")
    grant(outsider, factories.make_project(key="BANK"), "viewer")
    client.force_login(outsider)

    response, body = download(client, project="SHOP", format="json")
    assert response.status_code == 400 and "No project SHOP." in body.decode()
    response, body = download(client, stories=["SHOP-12"], format="json")
    assert response.status_code == 400 and "No story SHOP-12." in body.decode()


def test_an_unknown_format_or_an_empty_selection_is_refused(viewer, shop):
    response, body = download(viewer, stories=["SHOP-12"], format="xml")
    assert response.status_code == 400 and "Format: Select a valid choice." in body.decode()
    response, body = download(viewer, format="csv")
    assert "Select stories in the table, or filter the table by a project, first." in body.decode()


def test_export_needs_a_login(client, shop):
    response = client.get(reverse("stories:export"), {"project": "SHOP", "format": "csv"})
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_story_page_and_the_table_offer_export(viewer, shop):
    page = viewer.get(reverse("stories:detail", args=["SHOP-12"])).content.decode()
    assert f'href="{reverse("stories:export_dialog")}?stories=SHOP-12"' in page

    table = viewer.get(reverse("stories:list"), {"project": "SHOP"}).content.decode()
    assert f'href="{reverse("stories:export_dialog")}?project=SHOP"' in table
    assert "Export project SHOP" in table
    assert "Export project" not in viewer.get(reverse("stories:list")).content.decode()


def test_editors_export_the_rows_they_select(client_logged_in, shop):
    # Rows have checkboxes for editors (teams' rule); the selection form sends them to the export dialog too.
    table = client_logged_in.get(reverse("stories:list")).content.decode()
    assert f'formaction="{reverse("stories:export_dialog")}">Export selected</button>' in table


def test_a_testrail_download_takes_the_template_chosen_in_the_dialog(viewer, shop):
    _, steps = download(viewer, project="SHOP", format="testrail-csv")
    _, bdd = download(viewer, project="SHOP", format="testrail-csv", testrail_template="bdd")

    def templates(body: bytes) -> set[str]:
        return {row[2] for row in list(csv.reader(io.StringIO(body.decode(), newline="")))[1:]}

    assert templates(steps) == {"Test Case (Steps)"}
    assert templates(bdd) == {"Behaviour Driven Development"}
    dialog = viewer.get(reverse("stories:export_dialog"), {"project": "SHOP"}, headers=HTMX).content.decode()
    assert '<select name="testrail_template"' in dialog
