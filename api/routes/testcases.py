"""Saved test cases: list them per story or project, download them in the export formats (streamed)."""

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


@router.get(
    "/projects/{project_key}/test-cases", response={200: list[TestCaseOut], 404: Error}, summary="A project's tests"
)
def project_test_cases(request, project_key: str):
    project = project_or_404(request.user, project_key)
    return [test_case_out(tc) for tc in _test_cases().filter(story__project=project).order_by("story__key_sort", "id")]


class ExportQuery(Schema):
    format: Literal[tuple(exporting.EXPORT_FORMATS)] = "feature"  # type: ignore[valid-type]
    stories: str | None = Field(None, description="Comma-separated story keys")
    project: str | None = Field(None, description="Project key")
    excel: bool = Field(False, description="CSV formats: start with a UTF-8 byte-order mark for Excel")
    testrail_template: Literal["steps", "bdd"] = "steps"


@router.get(
    "/export",
    response={200: str, 400: Error, 404: Error},
    summary="Download test cases",
    openapi_extra={
        "responses": {
            200: {"content": {f.content_type: {"schema": {"type": "string"}} for f in exporting.FORMATS.values()}}
        }
    },
)
def export(request, query: Query[ExportQuery]):
    """The export command's formats, streamed: `feature` (a zip of .feature files), `xray-csv`, `testrail-csv`,
    `json` (re-importable) and `csv`. Names stories by key and/or a project; without either, every story you may
    see."""
    keys = [k.strip() for k in (query.stories or "").split(",") if k.strip()]
    if query.project:
        project_or_404(request.user, query.project)
    for key in keys:
        story_or_404(request.user, key)
    try:
        stories = exporting.select_stories(keys, query.project, all=not (keys or query.project))
    except exporting.ExportError as error:
        raise ApiError(404, "not_found", str(error)) from None
    stories = permissions.visible(stories, request.user)
    fmt = exporting.FORMATS[query.format]
    chunks = exporting.export_chunks(
        query.format, stories, excel=query.excel, testrail_template=query.testrail_template
    )
    response = StreamingHttpResponse(chunks, content_type=fmt.content_type)
    response["Content-Disposition"] = f'attachment; filename="{fmt.filename}"'
    return response
