from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from stories.models import Membership, Project, Scenario, TestCase, UserStory


class MembershipInline(admin.TabularInline):
    model = Membership
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    raw_id_fields = ["user"]
    extra = 0


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "story_count", "created_at"]
    search_fields = ["key", "name", "description"]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(story_count=Count("stories"))

    @admin.display(description="Stories", ordering="story_count")
    def story_count(self, obj: Project) -> int:
        return obj.story_count


class TestCaseInline(admin.TabularInline):
    model = TestCase
    fields = ["title", "test_type", "priority", "status", "edit_link"]
    readonly_fields = ["edit_link"]
    extra = 0
    show_change_link = True

    @admin.display(description="Scenarios")
    def edit_link(self, obj: TestCase) -> str:
        if not obj.pk:
            return "—"
        url = reverse("admin:stories_testcase_change", args=[obj.pk])
        return format_html('<a href="{}">Edit scenarios</a>', url)


@admin.register(UserStory)
class UserStoryAdmin(SimpleHistoryAdmin):  # its History page lists stories.history's rows
    list_display = ["story_key", "title", "project", "priority", "status", "test_case_count", "updated_at"]
    list_select_related = ["project"]
    list_filter = ["project", "priority", "status"]
    search_fields = ["key", "title", "description"]
    autocomplete_fields = ["project"]
    inlines = [TestCaseInline]
    list_per_page = 50

    def get_queryset(self, request):
        return super().get_queryset(request).with_test_case_count()

    @admin.display(description="Test cases", ordering="test_case_count")
    def test_case_count(self, obj: UserStory) -> int:
        return obj.test_case_count

    @admin.display(description="Key", ordering="key_sort")  # natural order: SHOP-2 before SHOP-10
    def story_key(self, obj: UserStory) -> str:
        return obj.key


class ScenarioInline(admin.StackedInline):
    model = Scenario
    fields = ["position", "name", "steps", "tags"]
    ordering = ["position", "id"]
    extra = 0


@admin.register(TestCase)
class TestCaseAdmin(SimpleHistoryAdmin):  # its History page lists stories.history's rows
    list_display = ["title", "story", "test_type", "priority", "status", "author", "updated_at"]
    list_select_related = ["story", "author"]
    list_filter = ["test_type", "priority", "status", "story__project"]
    search_fields = ["title", "objective", "story__key", "story__title"]
    autocomplete_fields = ["story"]
    raw_id_fields = ["author", "source_job"]
    readonly_fields = ["feature_preview", "created_at", "updated_at"]
    inlines = [ScenarioInline]

    @admin.display(description="Feature file")
    def feature_preview(self, obj: TestCase) -> str:
        if not obj.pk:
            return "Saved test cases show their .feature text here."
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', obj.feature_text())


@admin.register(Scenario)
class ScenarioAdmin(SimpleHistoryAdmin):  # its History page lists stories.history's rows
    list_display = ["name", "test_case", "position"]
    list_select_related = ["test_case"]
    search_fields = ["name", "steps", "test_case__title"]
    raw_id_fields = ["test_case"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_select_related = ["user", "project"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "project__key"]
    raw_id_fields = ["user"]
    autocomplete_fields = ["project"]
