"""Saved test cases over the API: per story and project, and downloaded in the export formats."""

import csv
import io
import json
import zipfile

from tests import factories


def body(response) -> str:
    return b"".join(response.streaming_content).decode()


def test_test_cases_are_listed_per_project(api, story):
    factories.make_test_case(story=story, title="Cart holds 50 items", scenarios=2)
    [test_case] = api.get("/api/projects/SHOP/test-cases").json()
    assert test_case["title"] == "Cart holds 50 items"
    assert [s["name"] for s in test_case["scenarios"]] == ["Scenario 1", "Scenario 2"]


def test_export_streams_every_format_of_the_command(api, story):
    test_case = factories.make_test_case(story=story, title="Cart holds 50 items", scenarios=2)
    feature = api.get("/api/export", {"project": "SHOP"})
    assert (feature["Content-Type"], feature["Content-Disposition"]) == (
        "application/zip",
        'attachment; filename="features.zip"',
    )
    names = zipfile.ZipFile(io.BytesIO(b"".join(feature.streaming_content))).namelist()
    assert names == [f"SHOP-12/tc-{test_case.pk}-cart-holds-50-items.feature"]

    data = json.loads(body(api.get("/api/export", {"stories": "SHOP-12", "format": "json"})))
    assert "SHOP-12" in json.dumps(data)
    rows = list(csv.DictReader(io.StringIO(body(api.get("/api/export", {"project": "SHOP", "format": "csv"})))))
    assert len(rows) == 2
    xray = body(api.get("/api/export", {"project": "SHOP", "format": "xray-csv"}))
    assert xray.startswith("Test ID,Summary")


def test_export_of_something_unknown_or_hidden_is_404(api, story):
    hidden = factories.make_story(key="BANK-1", project=factories.make_project(key="BANK"))
    factories.make_test_case(story=hidden)
    assert api.get("/api/export", {"project": "BANK"}).json()["code"] == "project_not_found"
    assert api.get("/api/export", {"stories": "BANK-1"}).json()["code"] == "story_not_found"
    assert "BANK-1" not in body(api.get("/api/export", {"format": "json"}))  # everything you may see
    assert api.get("/api/export", {"format": "pdf"}).status_code == 400
