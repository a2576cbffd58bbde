"""Projects and stories: list (filtered, naturally sorted, paginated), read, create, update."""

from datetime import datetime
from typing import Literal

from django.db.models import OuterRef, Subquery
from django.http import Http404
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import PageNumberPagination, paginate

from api.errors import ApiError
from api.routes.jobs import story_or_404
from api.schemas import Error
from generation.jobs import latest_jobs_for
from generation.models import GenerationJob, JobStatus
from stories import permissions
from stories.forms import StoryForm
from stories.models import Priority, Project, UserStory

router = Router(tags=["stories"])

STORIES_PER_PAGE = 50
StoryStatus = Literal[tuple(UserStory.Status.values)]  # type: ignore[valid-type]
PriorityName = Literal[tuple(Priority.values)]  # type: ignore[valid-type]
JobStatusName = Literal[tuple([*JobStatus.values, "none"])]  # type: ignore[valid-type]


class ProjectOut(Schema):
    key: str
    name: str
    description: str
    story_count: int
    criteria: int = Field(description="Acceptance criteria of the project's stories")
    criteria_covered: int = Field(description="Of those, criteria at least one saved scenario covers")
    coverage_percent: int | None = Field(description="criteria_covered ÷ criteria, in percent; null without criteria")


class UncoveredCriterion(Schema):
    number: int
    label: str = Field(description="AC-1, AC-2, … (numbers stay when criteria are edited)")
    text: str


class StoryGaps(Schema):
    story: str
    title: str
    criteria: int
    uncovered: list[UncoveredCriterion]


class ProjectDetail(ProjectOut):
    uncovered_stories: int = Field(description="Stories with at least one criterion no saved scenario covers")
    uncovered: list[StoryGaps] = Field(description="The first 100 of those stories, with their uncovered criteria")


class LatestJob(Schema):
    id: str
    status: str
    progress: int
    status_url: str


class StoryOut(Schema):
    key: str
    project: str | None
    title: str
    description: str
    acceptance_criteria: list[str]
    priority: str
    status: str
    labels: list[str]
    external_url: str
    test_cases: int
    latest_job: LatestJob | None
    created_at: datetime
    updated_at: datetime


class StoryIn(Schema):
    """A new story; `acceptance_criteria` is a list, one criterion an item."""

    key: str
    title: str
    project: str | None = Field(None, description="Project key; null for a story without a project.")
    description: str = ""
    acceptance_criteria: list[str] = []
    priority: PriorityName = Priority.MEDIUM.value
    status: StoryStatus = UserStory.Status.TODO.value
    labels: list[str] = []
    external_url: str = ""


class StoryPatch(Schema):
    """Only the fields sent are changed."""

    title: str | None = None
    project: str | None = None
    description: str | None = None
    acceptance_criteria: list[str] | None = None
    priority: PriorityName | None = None
    status: StoryStatus | None = None
    labels: list[str] | None = None
    external_url: str | None = None


class StoryFilters(Schema):
    project: str | None = Field(None, description="Project key")
    q: str | None = Field(None, description="Text in the key or the title")
    has_tests: bool | None = Field(None, description="Only stories with (true) or without (false) test cases")
    job_status: JobStatusName | None = Field(None, description="Status of the story's latest job ('none': never)")


def _editable_fields(story: UserStory) -> dict:
    """The fields a caller sets (StoryIn), as the API spells them: the project by its key."""
    return {
        "key": story.key,
        "project": story.project.key if story.project_id else None,
        "title": story.title,
        "description": story.description,
        "acceptance_criteria": story.acceptance_criteria,
        "priority": story.priority,
        "status": story.status,
        "labels": story.labels,
        "external_url": story.external_url,
    }


def story_out(story: UserStory) -> dict:
    job = getattr(story, "latest_job", None)
    if job is None and not hasattr(story, "latest_job"):
        job = story.generation_jobs.order_by("-queued_at", "-pk").first()
    return {
        **_editable_fields(story),
        "test_cases": story.test_case_count if hasattr(story, "test_case_count") else story.test_cases.count(),
        "latest_job": {
            "id": str(job.pk),
            "status": job.status,
            "progress": job.progress,
            "status_url": job.get_absolute_url(),
        }
        if job
        else None,
        "created_at": story.created_at,
        "updated_at": story.updated_at,
    }


@router.get("/projects", response=list[ProjectOut], summary="List projects")
def list_projects(request):
    projects = permissions.visible(Project.objects.all(), request.user).order_by("key")
    stories = permissions.visible(UserStory.objects.filter(project__in=projects), request.user)
    coverage = stories.coverage_by_project()
    return [_project_json(p, coverage.get(p.pk, {})) for p in projects]


@router.get(
    "/projects/{project_key}", response={200: ProjectDetail, 404: Error}, url_name="project", summary="Read a project"
)
def project_detail(request, project_key: str):
    """The project's coverage figure (criteria covered ÷ criteria) and, story by story, the acceptance criteria no
    saved scenario covers, as on the project's page."""
    try:
        project = permissions.get_visible_or_404(Project.objects.all(), request.user, key=project_key.upper())
    except Http404:
        raise ApiError(404, "project_not_found", f"There is no project with the key {project_key!r}.") from None
    stories = permissions.visible(UserStory.objects.filter(project=project), request.user)
    gaps = [
        {
            "story": gap["story"].key,
            "title": gap["story"].title,
            "criteria": gap["story"].criteria_count,
            "uncovered": [{"number": n, "label": f"AC-{n}", "text": text} for n, text in gap["uncovered"]],
        }
        for gap in stories.criteria_gaps()
    ]
    coverage = stories.coverage_by_project().get(project.pk, {})
    return {
        **_project_json(project, coverage),
        "uncovered_stories": stories.with_uncovered_criteria().count(),
        "uncovered": gaps,
    }


def _project_json(project: Project, coverage: dict) -> dict:
    return {
        "key": project.key,
        "name": project.name,
        "description": project.description,
        "story_count": coverage.get("stories", 0),
        "criteria": coverage.get("criteria", 0),
        "criteria_covered": coverage.get("covered", 0),
        "coverage_percent": coverage.get("percent"),
    }


class _Page(PageNumberPagination):
    """`?page=&per_page=` → `{"items": [...], "count": N}`; the page's latest jobs are read in one query."""

    class Input(Schema):
        page: int = Field(1, ge=1)
        per_page: int = Field(STORIES_PER_PAGE, ge=1, le=200)

    def paginate_queryset(self, queryset, pagination: Input, **params):
        offset = (pagination.page - 1) * pagination.per_page
        page = list(queryset[offset : offset + pagination.per_page])
        latest = latest_jobs_for(s.pk for s in page)
        for story in page:
            story.latest_job = latest.get(story.pk)
        return {"items": [story_out(s) for s in page], "count": queryset.count()}


@router.get("/stories", response=list[StoryOut], summary="List stories")
@paginate(_Page)
def list_stories(request, filters: Query[StoryFilters]):
    """Stories you may see, grouped by project and in natural key order (SHOP-2 before SHOP-10)."""
    latest = GenerationJob.objects.filter(story_id=OuterRef("pk")).order_by("-queued_at", "-pk")
    stories = (
        permissions.visible(UserStory.objects.all(), request.user)
        .select_related("project")
        .with_test_case_count()
        .search(filters.q or "")
        .annotate(latest_status=Subquery(latest.values("status")[:1]))
        .natural_order(by_project=True)
    )
    if filters.project:
        stories = stories.filter(project__key=filters.project)
    if filters.has_tests is not None:
        stories = stories.with_test_cases(filters.has_tests)
    if filters.job_status == "none":
        stories = stories.filter(latest_status__isnull=True)
    elif filters.job_status:
        stories = stories.filter(latest_status=filters.job_status)
    return stories


@router.get("/stories/{key}", response={200: StoryOut, 404: Error}, summary="Read a story")
def get_story(request, key: str):
    return story_out(story_or_404(request.user, key))


def _save_story(request, data: dict, instance: UserStory | None) -> UserStory:
    """Validate through the same StoryForm the pages use; the project is named by its key."""
    project_key = data.pop("project", None)
    project = None
    if project_key:
        try:
            project = permissions.get_visible_or_404(Project.objects.all(), request.user, key=project_key)
        except Http404:
            raise ApiError(404, "project_not_found", f"There is no project with the key {project_key!r}.") from None
    permissions.require_edit(request.user, project)  # None: an editor of any project may add shared backlog
    form = StoryForm({**data, "project": project.pk if project else ""}, instance=instance, user=request.user)
    if not form.is_valid():
        fields = [{"field": name, "message": str(msg)} for name, msgs in form.errors.items() for msg in msgs]
        raise ApiError(400, "invalid_input", " ".join(f["message"] for f in fields), fields=fields)
    return form.save()


@router.post("/stories", response={201: StoryOut, 400: Error, 404: Error}, summary="Create a story")
def create_story(request, payload: StoryIn):
    story = _save_story(request, payload.dict(), instance=None)
    return Status(201, story_out(story))


@router.patch("/stories/{key}", response={200: StoryOut, 400: Error, 404: Error}, summary="Update a story")
def update_story(request, key: str, payload: StoryPatch):
    story = story_or_404(request.user, key)
    permissions.require_edit(request.user, story)
    changes = payload.dict(exclude_unset=True)
    return story_out(_save_story(request, {**_editable_fields(story), **changes}, instance=story))
