"""Projects, user stories and the test suites (test cases made of Gherkin scenarios) that QAForge builds for them."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Coalesce, Lower
from django.urls import reverse
from django.utils.text import slugify

from stories import criteria as ac
from stories import gherkin
from stories.history import History
from stories.keys import NATURAL_ORDER, KeyField, NaturalSortField

project_key_validator = RegexValidator(
    r"^[A-Z][A-Z0-9_]{0,19}$", "Use 1–20 capital letters, digits or underscores, starting with a letter (e.g. SHOP)."
)
# Exported files carry `@tc-<id>` on each Feature and `@sc-<id>` on each Scenario so a re-import updates, not copies.
TEST_CASE_TAG_PREFIX = "tc-"
SCENARIO_TAG_PREFIX = "sc-"

story_key_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,49}$", "Use letters, digits, '-', '_' or '.' (e.g. SHOP-12)."
)


def normalise_criterion(text: str) -> str:
    """One acceptance criterion as stored: its lines without trailing spaces and with no blank line between them
    (the story form separates criteria by a blank line)."""
    return "\n".join(line.rstrip() for line in text.strip().splitlines() if line.strip())


class Priority(models.TextChoices):
    HIGHEST = "highest", "Highest"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"
    LOWEST = "lowest", "Lowest"


class Project(models.Model):
    key = KeyField(max_length=20, unique=True, validators=[project_key_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.key} — {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("stories:list") + f"?project={self.key}"


class Role(models.TextChoices):
    """A member's role in one project; each role can do everything the ones before it can (see stories.permissions)."""

    VIEWER = "viewer", "Viewer"
    EDITOR = "editor", "Editor"
    OWNER = "owner", "Owner"


class Membership(models.Model):
    """`user` works on `project` as `role`. Who may see and change what is decided in `stories.permissions`."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]  # FK-free, as elsewhere; pages order members explicitly
        constraints = [models.UniqueConstraint(fields=["user", "project"], name="one_membership_per_user_and_project")]

    def __str__(self) -> str:
        return f"{self.user} · {self.project.key} · {self.get_role_display()}"


def _percent(covered: int, criteria: int) -> int | None:
    """Criteria covered ÷ criteria, in whole percent; None when there are no criteria to cover."""
    return round(100 * covered / criteria) if criteria else None


class UserStoryQuerySet(models.QuerySet):
    def natural_order(self, *, by_project: bool = False) -> UserStoryQuerySet:
        """Stories in key order as people read keys: SHOP-2 before SHOP-10 (the same on SQLite and PostgreSQL).

        With `by_project`, grouped by project first, stories without a project last (the stories table)."""
        if by_project:
            return self.order_by(models.F("project__key").asc(nulls_last=True), *NATURAL_ORDER)
        return self.order_by(*NATURAL_ORDER)

    def sorted_by(self, sort: str, *, by_project: bool = False) -> UserStoryQuerySet:
        """Sorted by "key" (natural), "title", "priority" (highest first) or "updated" (newest first); a leading
        "-" reverses. Ties fall back to the natural key order; `by_project` groups by project first."""
        descending = sort.startswith("-")
        field = sort.lstrip("-")
        if field == "key":
            order = [models.F(name).desc() if descending else models.F(name).asc() for name in NATURAL_ORDER]
        else:
            expression = {
                "title": Lower("title"),
                "priority": models.Case(
                    *(models.When(priority=value, then=rank) for rank, value in enumerate(Priority.values)),
                    default=len(Priority.values),
                ),
                "updated": models.F("updated_at"),
            }[field]
            # Updated reads newest first, the others A→Z / highest first; "-" turns each around.
            descending = descending != (field == "updated")
            order = [expression.desc() if descending else expression.asc(), *NATURAL_ORDER]
        if by_project:
            order.insert(0, models.F("project__key").asc(nulls_last=True))
        return self.order_by(*order)

    def with_test_case_count(self) -> UserStoryQuerySet:
        """Annotate `test_case_count` with a correlated subquery: computed only for the rows a page shows,
        without GROUP BY over the whole table."""
        counts = (
            TestCase.objects.filter(story=models.OuterRef("pk"))
            .order_by()
            .values("story")
            .annotate(n=models.Count("pk"))
            .values("n")
        )
        return self.annotate(test_case_count=Coalesce(models.Subquery(counts), 0))

    def with_test_cases(self, has: bool) -> UserStoryQuerySet:
        exists = models.Exists(TestCase.objects.filter(story=models.OuterRef("pk")))
        return self.filter(exists if has else ~exists)

    def with_uncovered_criteria(self) -> UserStoryQuerySet:
        """Stories with at least one acceptance criterion that no saved scenario covers."""
        return self.filter(criteria_covered__lt=models.F("criteria_count"))

    def coverage(self) -> dict:
        """{"criteria": n, "covered": n, "percent": int | None} over these stories (one aggregate query)."""
        totals = self.order_by().aggregate(
            criteria=Coalesce(models.Sum("criteria_count"), 0), covered=Coalesce(models.Sum("criteria_covered"), 0)
        )
        return {**totals, "percent": _percent(totals["covered"], totals["criteria"])}

    def coverage_by_project(self) -> dict[int, dict]:
        """{project id: {"stories", "criteria", "covered", "percent"}} over these stories (one grouped query)."""
        rows = (
            self.order_by()
            .values("project_id")
            .annotate(
                stories=models.Count("pk"),
                criteria=Coalesce(models.Sum("criteria_count"), 0),
                covered=Coalesce(models.Sum("criteria_covered"), 0),
            )
        )
        return {row.pop("project_id"): {**row, "percent": _percent(row["covered"], row["criteria"])} for row in rows}

    def criteria_gaps(self, limit: int = 100) -> list[dict]:
        """Of these stories, the first `limit` (natural order) with a criterion no saved scenario covers, each with
        those criteria: [{"story", "uncovered": [(number, text)], "numbers": [number]}]. Two queries."""
        stories = list(self.with_uncovered_criteria().natural_order()[:limit])
        cited: dict[int, list] = {story.pk: [] for story in stories}
        rows = Scenario.objects.filter(test_case__story_id__in=list(cited)).values_list(
            "test_case__story_id", "criteria"
        )
        for story_id, numbers in rows:
            cited[story_id].append(numbers or [])
        gaps = []
        for story in stories:
            covered = ac.covered_numbers(cited[story.pk], (n for n, _ in story.numbered_criteria))
            uncovered = [(n, text) for n, text in story.numbered_criteria if n not in covered]
            gaps.append({"story": story, "uncovered": uncovered, "numbers": [n for n, _ in uncovered]})
        return gaps

    def search(self, text: str) -> UserStoryQuerySet:
        text = text.strip()
        if not text:
            return self
        return self.filter(models.Q(key__icontains=text) | models.Q(title__icontains=text))


CRITERIA_FIELDS = ("criteria_numbers", "criteria_next_number", "criteria_count", "criteria_covered")


class UserStory(models.Model):
    class Status(models.TextChoices):
        BACKLOG = "backlog", "Backlog"
        TODO = "todo", "To do"
        IN_PROGRESS = "in_progress", "In progress"
        IN_REVIEW = "in_review", "In review"
        DONE = "done", "Done"

    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="stories")
    key = KeyField(max_length=50, unique=True, validators=[story_key_validator])
    key_sort = NaturalSortField(source="key")
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True, help_text="As a … I want … so that …")
    acceptance_criteria = models.JSONField(default=list, blank=True, help_text="Ordered list, one criterion per item.")
    # Stable numbers of the criteria (AC-1, …), parallel to acceptance_criteria and kept by save() (stories.criteria).
    criteria_numbers = models.JSONField(default=list, blank=True, editable=False)
    criteria_next_number = models.PositiveIntegerField(default=1, editable=False)
    # How many criteria there are and how many the saved scenarios cite (refresh_coverage keeps them): the stories
    # table filters on them and projects sum them.
    criteria_count = models.PositiveSmallIntegerField(default=0, editable=False)
    criteria_covered = models.PositiveSmallIntegerField(default=0, editable=False)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.MEDIUM)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.TODO)
    labels = models.JSONField(default=list, blank=True)
    external_url = models.URLField(blank=True, max_length=500)
    issue_type = models.CharField(
        "type", max_length=50, blank=True, help_text="The tracker's type (Story, Bug, Epic…), kept on import."
    )
    tracker_status = models.CharField(
        max_length=100, blank=True, help_text="The tracker's workflow status when it is not one of QAForge's."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserStoryQuerySet.as_manager()
    # Who changed what (stories.history); derived columns are left out, they follow the tracked ones.
    history = History(excluded_fields=["updated_at", "key_sort", "criteria_count", "criteria_covered"])

    class Meta:
        ordering = NATURAL_ORDER
        verbose_name_plural = "user stories"
        indexes = [models.Index(fields=["title"]), models.Index(fields=NATURAL_ORDER, name="story_natural_order")]

    def __str__(self) -> str:
        return f"{self.key}: {self.title}"

    def save(self, *args, **kwargs) -> None:
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "key" in update_fields and "key_sort" not in update_fields:
            kwargs["update_fields"] = update_fields = [*update_fields, "key_sort"]  # the sort key follows the key
        if update_fields is None or "acceptance_criteria" in update_fields:
            self._number_criteria()
            if update_fields is not None:
                kwargs["update_fields"] = [*update_fields, *CRITERIA_FIELDS]
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("stories:detail", args=[self.key])

    def _number_criteria(self) -> None:
        texts = [str(c) for c in self.acceptance_criteria or []]
        old_texts, old_numbers = [], []
        if self.pk:
            row = UserStory.objects.filter(pk=self.pk).values_list("acceptance_criteria", "criteria_numbers").first()
            if row:
                old_texts, old_numbers = [str(c) for c in row[0] or []], list(row[1] or [])
        if old_texts != texts or len(old_numbers) != len(texts):
            self.criteria_numbers, self.criteria_next_number = ac.renumber(
                old_texts, old_numbers, texts, self.criteria_next_number
            )
        self.criteria_count = len(texts)
        self.criteria_covered = len(self._covered()) if self.pk else 0

    def _covered(self) -> set[int]:
        cited = Scenario.objects.filter(test_case__story_id=self.pk).values_list("criteria", flat=True)
        return ac.covered_numbers((c or [] for c in cited), (n for n, _ in self.numbered_criteria))

    def refresh_coverage(self) -> None:
        """Recount the criteria the saved scenarios cover (after scenarios were saved or deleted in bulk)."""
        self.criteria_covered = len(self._covered())
        UserStory.objects.filter(pk=self.pk).update(criteria_covered=self.criteria_covered)

    @property
    def numbered_criteria(self) -> list[tuple[int, str]]:
        """[(number, text)] in order; positional numbers for a row written without save() (a bulk import)."""
        texts = [str(c) for c in self.acceptance_criteria or []]
        numbers = self.criteria_numbers or []
        if len(numbers) != len(texts):
            numbers = range(1, len(texts) + 1)
        return list(zip(numbers, texts, strict=True))

    @property
    def revision(self) -> str:
        """Content hash of title, description and criteria: what a generator read (stories.criteria.revision)."""
        return ac.revision(self.title or "", self.description or "", [str(c) for c in self.acceptance_criteria or []])

    def clean(self) -> None:
        if not isinstance(self.acceptance_criteria, list) or not all(
            isinstance(c, str) for c in self.acceptance_criteria
        ):
            raise ValidationError({"acceptance_criteria": "Acceptance criteria must be a list of texts."})
        self.acceptance_criteria = [c for c in map(normalise_criterion, self.acceptance_criteria) if c]
        if not isinstance(self.labels, list):
            raise ValidationError({"labels": "Labels must be a list."})


class TestType(models.TextChoices):
    FUNCTIONAL = "FUNCTIONAL", "Functional"
    UI = "UI", "UI"
    API = "API", "API"
    INTEGRATION = "INTEGRATION", "Integration"
    SECURITY = "SECURITY", "Security"
    PERFORMANCE = "PERFORMANCE", "Performance"
    ACCESSIBILITY = "ACCESSIBILITY", "Accessibility"
    REGRESSION = "REGRESSION", "Regression"


class TestCase(models.Model):
    __test__ = False  # not a pytest class

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        READY = "ready", "Ready"
        OBSOLETE = "obsolete", "Obsolete"

    story = models.ForeignKey(UserStory, on_delete=models.CASCADE, related_name="test_cases")
    title = models.CharField(max_length=300)
    objective = models.TextField(blank=True)
    preconditions = models.TextField(blank=True)
    test_type = models.CharField(max_length=20, choices=TestType.choices, default=TestType.FUNCTIONAL)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.MEDIUM)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    source_job = models.ForeignKey(
        "generation.GenerationJob",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="saved_test_cases",
        help_text="The generation job this test case was saved from, if any.",
    )
    # Provenance of a generated test case (blank when written by hand). `author` saved it, at `created_at`.
    generator = models.CharField(max_length=20, blank=True)
    model_name = models.CharField(max_length=100, blank=True)
    model_version = models.CharField(max_length=100, blank=True, help_text="As the model API reported it.")
    prompt_version = models.CharField(max_length=40, blank=True)
    story_revision = models.CharField(
        max_length=12, blank=True, help_text="The story's revision it was generated from."
    )
    token_usage = models.JSONField(default=dict, blank=True, help_text="Tokens of the job that generated it.")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    generated_at = models.DateTimeField(null=True, blank=True)
    review = models.CharField(
        max_length=10,
        blank=True,
        choices=[("unchanged", "Saved as suggested"), ("edited", "Edited in review")],
        help_text="How the suggestion was saved.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = History(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["id"]  # no FK in ordering: it would join the story (and project) into every query

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("stories:detail", args=[self.story.key]) + f"#test-case-{self.pk}"

    @property
    def id_tag(self) -> str:
        """The stable tag that names this test case in exported files (and finds it again on import)."""
        return f"@{TEST_CASE_TAG_PREFIX}{self.pk}"

    def feature_path(self) -> str:
        """Where this test case lives in an exported Cucumber repository: `SHOP-12/tc-7-add-to-cart.feature`."""
        slug = slugify(self.title)[:60].strip("-")
        return f"{self.story.key}/{self.id_tag[1:]}{'-' + slug if slug else ''}.feature"

    def feature_text(self) -> str:
        """This test case as a .feature file: one Feature, its scenarios, ids as tags (see stories.exporting)."""
        background = gherkin.steps_or_none(self.preconditions)
        description = [self.objective]
        if self.preconditions.strip() and background is None:
            description.append(f"Preconditions: {self.preconditions.strip()}")
        return gherkin.feature_text(
            self.title,
            [s.export_text() for s in self.scenarios.all()],
            description="\n".join(line for line in description if line.strip()),
            tags=[f"@{self.story.key}", self.id_tag, f"@{self.test_type.lower()}", f"@priority-{self.priority}"],
            background=background or "",
        )


class Scenario(models.Model):
    test_case = models.ForeignKey(TestCase, on_delete=models.CASCADE, related_name="scenarios")
    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=300)
    steps = models.TextField(help_text="Gherkin steps, one per line: Given … When … Then …")
    tags = models.JSONField(default=list, blank=True)
    criteria = models.JSONField(default=list, blank=True, help_text="Numbers of the acceptance criteria it covers.")

    history = History()

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        # Scenarios are validated on every save, not only in forms: imports, admin and jobs all go through here.
        self.full_clean(exclude=["test_case"])
        super().save(*args, **kwargs)

    def as_text(self) -> gherkin.ScenarioText:
        return gherkin.ScenarioText(self.name, self.steps, list(self.tags))

    @property
    def id_tag(self) -> str:
        return f"@{SCENARIO_TAG_PREFIX}{self.pk}"

    def export_text(self) -> gherkin.ScenarioText:
        """The scenario as exported: its id tag first, then its own tags."""
        return gherkin.ScenarioText(self.name, self.steps, [self.id_tag, *self.tags])

    def clean(self) -> None:
        self.steps = gherkin.normalise_steps(self.steps or "")
        self.tags = gherkin.clean_tags(self.tags or [])
        problems = gherkin.scenario_problems(self.as_text())
        if problems:
            raise ValidationError({"steps": problems})


class ImportJob(models.Model):
    """One file uploaded on the import page: parsed in the background into a preview, written when confirmed."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PARSING = "parsing", "Reading the file"
        PREVIEW = "preview", "Ready to confirm"
        IMPORTING = "importing", "Importing"
        DONE = "done", "Imported"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="imports")
    new_project_key = models.CharField(max_length=20, blank=True)
    new_project_name = models.CharField(max_length=200, blank=True)
    upload = models.FileField(upload_to="imports/", max_length=300, blank=True)
    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField(default=0)
    format = models.CharField(max_length=10, default="auto")
    types = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    rows = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)  # the preview, then the result (stories.importing.jobs)
    errors = models.JSONField(default=list, blank=True)
    error_total = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import of {self.original_name} ({self.get_status_display()})"

    def get_absolute_url(self) -> str:
        return reverse("stories:import_job", args=[self.pk])

    @property
    def target_key(self) -> str:
        return self.project.key if self.project_id else self.new_project_key

    @property
    def running(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.PARSING, self.Status.IMPORTING)


def _refresh_story_coverage(sender, instance, **kwargs) -> None:
    # Saved and deleted scenarios change which criteria are covered; bulk writes call refresh_coverage() themselves.
    story_id = TestCase.objects.filter(pk=instance.test_case_id).values_list("story_id", flat=True).first()
    if story_id is not None:
        story = UserStory.objects.filter(pk=story_id).first()
        if story is not None:
            story.refresh_coverage()


models.signals.post_save.connect(_refresh_story_coverage, sender=Scenario, dispatch_uid="scenario-coverage-save")
models.signals.post_delete.connect(_refresh_story_coverage, sender=Scenario, dispatch_uid="scenario-coverage-delete")
