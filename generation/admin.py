from django.contrib import admin, messages
from django.utils.html import format_html

from generation import jobs
from generation.models import BatchCheckpoint, GenerationJob, SuggestedTestCase


class SuggestedTestCaseInline(admin.StackedInline):
    model = SuggestedTestCase
    extra = 0
    fields = ("position", "title", "test_type", "priority", "objective", "preconditions", "scenarios")
    show_change_link = True


class BatchCheckpointInline(admin.TabularInline):
    model = BatchCheckpoint
    extra = 0
    fields = ("index", "created_at")
    readonly_fields = ("index", "created_at")
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(GenerationJob)
class GenerationJobAdmin(admin.ModelAdmin):
    list_display = (
        "short_id",
        "story",
        "status",
        "progress_display",
        "generator",
        "attempts",
        "requested_by",
        "queued_at",
        "finished_at",
    )
    list_filter = ("status", "generator", "story__project")
    search_fields = ("id", "story__key", "story__title", "error", "task_id")
    list_select_related = ("story", "requested_by")
    date_hierarchy = "queued_at"
    readonly_fields = (
        "id",
        "story",
        "requested_by",
        "generator",
        "model",
        "progress",
        "phase",
        "batches_done",
        "batches_total",
        "attempts",
        "queued_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
        "updated_at",
        "task_id",
        "worker",
        "run_token",
        "report",
        "asked",
        "got",
    )
    fieldsets = (
        (None, {"fields": ("id", "story", "requested_by", "status", "error", "warnings", "asked", "got")}),
        ("Request", {"fields": ("test_cases", "scenarios_per_test", "test_types")}),
        ("Progress", {"fields": ("progress", "phase", "batches_done", "batches_total", "attempts")}),
        ("Run", {"fields": ("generator", "model", "task_id", "worker", "run_token", "report")}),
        ("Timestamps", {"fields": ("queued_at", "started_at", "heartbeat_at", "finished_at", "updated_at")}),
    )
    inlines = [SuggestedTestCaseInline, BatchCheckpointInline]
    actions = ["cancel_jobs", "requeue_jobs", "discard_jobs"]

    @admin.display(description="Job", ordering="id")
    def short_id(self, job):
        return str(job.pk)[:8]

    @admin.display(description="Progress", ordering="progress")
    def progress_display(self, job):
        return format_html('<progress max="100" value="{}"></progress> {}%', job.progress, job.progress)

    def _apply(self, request, queryset, action, verb):
        done, refused = 0, []
        for job in queryset.select_related("story"):
            try:
                if action(job) is not False:
                    done += 1
                else:
                    refused.append(job.story.key)
            except jobs.QueueError as error:
                refused.append(f"{job.story.key} ({error})")
        if done:
            self.message_user(request, f"{verb} {done} job(s).", messages.SUCCESS)
        if refused:
            self.message_user(request, f"Not {verb.lower()}: {', '.join(refused)}", messages.WARNING)

    @admin.action(description="Cancel selected jobs (queued or running)")
    def cancel_jobs(self, request, queryset):
        self._apply(request, queryset, jobs.cancel_job, "Cancelled")

    @admin.action(description="Re-queue selected jobs")
    def requeue_jobs(self, request, queryset):
        self._apply(request, queryset, jobs.requeue_job, "Re-queued")

    @admin.action(description="Discard selected jobs' suggestions")
    def discard_jobs(self, request, queryset):
        self._apply(request, queryset, jobs.discard_job, "Discarded")


@admin.register(SuggestedTestCase)
class SuggestedTestCaseAdmin(admin.ModelAdmin):
    list_display = ("title", "job", "test_type", "priority", "position")
    list_filter = ("test_type", "priority")
    search_fields = ("title", "job__story__key")
    list_select_related = ("job__story",)
