import json

from django.contrib import admin, messages
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime

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
    """Jobs are read here and changed only through the actions (cancel, re-queue, discard), which go through
    `generation.jobs` like the pages do: a status typed by hand would skip the lease, the queue and the badge."""

    # Few, narrow columns: the list fits beside the filters at 1280 px.
    list_display = ("short_id", "story_key", "status_display", "progress_display", "generator", "queued")
    list_filter = ("status", "generator", "story__project")
    search_fields = ("id", "story__key", "story__title", "error", "task_id")
    list_select_related = ("story",)
    date_hierarchy = "queued_at"
    fieldsets = (
        (None, {"fields": ("id", "story", "requested_by", "status", "error", "warnings_display")}),
        ("Request", {"fields": ("test_cases", "scenarios_per_test", "test_types", "asked", "got")}),
        ("Progress", {"fields": ("progress", "phase", "batches_done", "batches_total", "attempts")}),
        ("Run", {"fields": ("generator", "model", "task_id", "worker", "run_token", "report_display")}),
        ("Timestamps", {"fields": ("queued_at", "started_at", "heartbeat_at", "finished_at", "updated_at")}),
    )
    readonly_fields = tuple(
        name for _, section in fieldsets for name in section["fields"]
    )  # everything: see the class docstring
    inlines = [SuggestedTestCaseInline, BatchCheckpointInline]
    actions = ["cancel_jobs", "requeue_jobs", "discard_jobs"]

    def has_add_permission(self, request):
        return False  # jobs are queued from the stories page, the API or generate_tests

    @admin.display(description="Job", ordering="id")
    def short_id(self, job):
        return str(job.pk)[:8]

    @admin.display(description="Story", ordering="story__key_sort")
    def story_key(self, job):
        return format_html('<span title="{}">{}</span>', job.story.title, job.story.key)

    @admin.display(description="Status", ordering="status")
    def status_display(self, job):
        return format_html('<span style="white-space: nowrap">{}</span>', job.get_status_display())

    @admin.display(description="Progress", ordering="progress")
    def progress_display(self, job):
        return format_html(
            '<span style="white-space: nowrap">'
            '<progress max="100" value="{}" style="width: 4rem"></progress> {}%</span>',
            job.progress,
            job.progress,
        )

    @admin.display(description="Queued", ordering="queued_at")
    def queued(self, job):
        return format_html(
            '<span style="white-space: nowrap" title="{}">{}</span>',
            date_format(localtime(job.queued_at), "DATETIME_FORMAT"),
            date_format(localtime(job.queued_at), "j M H:i"),
        )

    @admin.display(description="Warnings")
    def warnings_display(self, job):
        if not job.warnings:
            return "—"
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((w,) for w in job.warnings)))

    @admin.display(description="Report")
    def report_display(self, job):
        if not job.report:
            return "—"
        text = json.dumps(job.report, indent=2, ensure_ascii=False, sort_keys=True)
        return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', text)

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
