"""Saved test cases: list them per story or project, download them as .feature text, JSON or CSV (streamed)."""

import csv
import io
import json
from typing import Literal

from django.db.models import Prefetch
from django.http import Http404, StreamingHttpResponse
from ninja import Field, Query, Router, Schema

from api.errors import ApiError
from api.routes.jobs import story_or_404
from api.schemas import Error, TestCaseOut, test_case_out
from stories import exporting, permissions
from stories.models import Project, Scenario, TestCase

router = Router(tags=["test cases"])

MEDIA_TYPES = {"feature": "text/plain", "json": "application/json", "csv": "text/csv"}


def _test_cases():
    scenarios = Prefetch("scenarios", queryset=Scenario.objects.order_by("position", "id"))
    return TestCase.objects.select_related("story").prefetch_related(scenarios).order_by("id")


def project_or_404(user, key: str) -> Project:
    try:
        return permissions.get_visible_or_404(Project.objects.all(), user, key=key)
    except Http404:
        raise ApiError(404, "project_not_found", f"There is no project with the key {key!r}.") from None


@router.get("/stories/{key}/test-cases", response={200: list[TestCaseOut], 404: Error}, summary="A story's tests")
def story_test_cases(request, key: str):
    story = story_or_404(request.user, key)
    return [test_case_out(tc) for tc in _test_cases().filter(story=story)]


@router.get("/projects/{key}/test-cases", response={200: list[TestCaseOut], 404: Error}, summary="A project's tests")
def project_test_cases(request, key: str):
    project = project_or_404(request.user, key)
    return [test_case_out(tc) for tc in _test_cases().filter(story__project=project).order_by("story__key_sort", "id")]


class ExportQuery(Schema):
    format: Literal["feature", "json", "csv"] = "feature"
    stories: str | None = Field(None, description="Comma-separated story keys")
    project: str | None = Field(None, description="Project key")


def _chunks(stories, fmt: str):
    """One chunk per story, so a large export starts at once and never sits whole in memory."""
    if fmt == "json":
        yield "[\n"
    elif fmt == "csv":
        header = io.StringIO()
        csv.writer(header, lineterminator="\n").writerow(exporting.CSV_COLUMNS)
        yield header.getvalue()
    for n, story in enumerate(stories):
        if fmt == "feature":
            yield exporting.features_stream_text([story]) + "\n"
        elif fmt == "json":
            (item,) = exporting.stories_as_data([story])
            yield ("" if n == 0 else ",\n") + json.dumps(item, indent=2, ensure_ascii=False)
        else:
            out = io.StringIO()
            exporting.write_csv([story], out)
            yield out.getvalue().split("\n", 1)[1]  # without its header row
    if fmt == "json":
        yield "\n]\n"


@router.get(
    "/export",
    response={200: str, 400: Error, 404: Error},
    summary="Download test cases",
    openapi_extra={"responses": {200: {"content": {t: {"schema": {"type": "string"}} for t in MEDIA_TYPES.values()}}}},
)
def export(request, query: Query[ExportQuery]):
    """The export command's formats: `.feature` text (each file headed by a `# path` comment), JSON or CSV."""
    keys = [k.strip() for k in (query.stories or "").split(",") if k.strip()]
    if query.project:
        project_or_404(request.user, query.project)
    for key in keys:
        story_or_404(request.user, key)
    try:
        stories = exporting.select_stories(keys, query.project)
    except exporting.ExportError as error:
        raise ApiError(404, "not_found", str(error)) from None
    stories = [s for s in stories if permissions.can_view(request.user, s)]
    response = StreamingHttpResponse(_chunks(stories, query.format), content_type=MEDIA_TYPES[query.format])
    name = query.project or (keys[0] if len(keys) == 1 else "test-cases")
    extension = "feature.txt" if query.format == "feature" else query.format
    response["Content-Disposition"] = f'attachment; filename="{name}.{extension}"'
    return response
