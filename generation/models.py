"""Generation jobs and the suggested test cases they produce, until a QA lead saves them into a story's suite."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from generation.options import DEFAULT_SCENARIOS_PER_TEST, DEFAULT_TEST_CASES
from stories.models import Priority, TestType, UserStory


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    READY = "ready", "Ready to review"
    FAILED = "failed", "Failed"
    SAVED = "saved", "Saved"
    DISCARDED = "discarded", "Discarded"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
FINISHED_STATUSES = (JobStatus.READY, JobStatus.FAILED, JobStatus.SAVED, JobStatus.DISCARDED, JobStatus.CANCELLED)


class GenerationJob(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    story = models.ForeignKey(UserStory, on_delete=models.CASCADE, related_name="generation_jobs")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    # What was asked for.
    test_cases = models.PositiveSmallIntegerField(default=DEFAULT_TEST_CASES)
    scenarios_per_test = models.PositiveSmallIntegerField(default=DEFAULT_SCENARIOS_PER_TEST)
    test_types = models.JSONField(default=list)
    # Only these acceptance criteria (their AC numbers); empty: the whole story.
    criteria = models.JSONField(default=list, blank=True)
    # A job asked from a review ("Generate for this criterion"): its suggestions join that job's review.
    extends = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="extensions")

    # What ran (provenance: also copied onto each saved test case).
    generator = models.CharField(max_length=20, blank=True)
    model = models.CharField(max_length=100, blank=True)
    model_version = models.CharField(max_length=100, blank=True, help_text="As the model API reported it.")
    prompt_version = models.CharField(max_length=40, blank=True)
    story_revision = models.CharField(max_length=12, blank=True, help_text="The story's revision it generated from.")
    story_criteria = models.JSONField(default=list, blank=True, help_text="[[number, text]] as generated from.")
    token_usage = models.JSONField(default=dict, blank=True)
    saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    saved_at = models.DateTimeField(null=True, blank=True)
    # {"suggested", "unchanged", "edited", "deleted"}: what the review did with the suggestions (the report's source).
    review_outcome = models.JSONField(default=dict, blank=True)

    status = models.CharField(max_length=12, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    progress = models.PositiveSmallIntegerField(default=0)
    phase = models.CharField(max_length=100, blank=True)
    batches_done = models.PositiveSmallIntegerField(default=0)
    batches_total = models.PositiveSmallIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    # What is still missing from a ready job after the engine asked again, one sentence each (engine.shortfall).
    warnings = models.JSONField(default=list, blank=True)
    # {"test_cases": n, "scenarios": n} asked for and got back (the badge's "4 of 5", the API's asked/got).
    asked = models.JSONField(default=dict, blank=True)
    got = models.JSONField(default=dict, blank=True)
    report = models.JSONField(default=dict, blank=True)

    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Bumped by every write (including queryset.update calls, which set it explicitly): the live-updates watcher
    # reads "jobs changed since T" through this index.
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)

    task_id = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=100, blank=True, help_text="host:pid of the run that holds the job")
    # The run that currently holds the job (a lease renewed by the heartbeat); a second delivery of the same task
    # sees a fresh heartbeat under another token and stops.
    run_token = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-queued_at"]
        indexes = [models.Index(fields=["story", "-queued_at"])]

    def __str__(self) -> str:
        return f"{self.story.key} · {self.get_status_display()}"

    def save(self, *args, **kwargs) -> None:
        self.updated_at = timezone.now()
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "updated_at"}
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("api:job_status", args=[self.pk])

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def total_scenarios(self) -> int:
        return self.test_cases * self.scenarios_per_test

    @property
    def warning(self) -> str:
        """The warnings as one text ("" when the job delivered everything asked)."""
        return " ".join(self.warnings or [])

    @property
    def shortfall(self) -> str:
        """The badge's few words for what is missing: "4 of 5", "12 of 15 scenarios" or ""."""
        from generation.engine.shortfall import short_label

        return short_label(self.asked, self.got)


class BatchCheckpoint(models.Model):
    """One finished batch of a running job, kept so a re-delivered task only requests the batches still missing."""

    job = models.ForeignKey(GenerationJob, on_delete=models.CASCADE, related_name="checkpoints")
    index = models.PositiveSmallIntegerField()
    result = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="one_checkpoint_per_batch")]

    def __str__(self) -> str:
        return f"batch {self.index} of job {self.job_id}"


class SuggestedTestCase(models.Model):
    """A test case the generator suggested; it belongs to its job until the lead saves it into the story."""

    job = models.ForeignKey(GenerationJob, on_delete=models.CASCADE, related_name="suggestions")
    position = models.PositiveSmallIntegerField(default=0)
    title = models.CharField(max_length=300)
    objective = models.TextField(blank=True)
    preconditions = models.TextField(blank=True)
    test_type = models.CharField(max_length=20, choices=TestType.choices, default=TestType.FUNCTIONAL)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.MEDIUM)
    # [{"name": str, "steps": str, "tags": [str]}], in order; validated Gherkin when the engine returned them.
    scenarios = models.JSONField(default=list)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.title


class RateLimitCall(models.Model):
    """A model call counted by the cluster-wide rate limiter (generation.ratelimit's database store)."""

    id = models.CharField(primary_key=True, max_length=32)
    started = models.FloatField(db_index=True, help_text="when it was granted (Unix time)")
    tokens = models.PositiveIntegerField(default=0, help_text="estimated, then what Gemini reported")
    busy_until = models.FloatField(null=True, blank=True, help_text="its concurrency slot, while in flight")

    def __str__(self) -> str:
        return f"call {self.id} ({self.tokens} tokens)"


class RateLimitState(models.Model):
    """The limiter's one row: the lock every exchange takes, and the pause a 429 asked for."""

    paused_until = models.FloatField(default=0.0)

    def __str__(self) -> str:
        return f"rate limiter (paused until {self.paused_until:.0f})"
