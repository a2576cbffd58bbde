"""Admins see every user's API tokens (never the token itself) and revoke them."""

from django.contrib import admin, messages
from django.urls import reverse

from api.models import ApiToken, HookDelivery, JiraHook


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "state", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user"]
    readonly_fields = ["user", "prefix", "created_at", "last_used_at", "revoked_at"]
    fields = ["user", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        # A token is shown once, to the person who makes it: on their "API tokens" page or by `api_token`.
        return False

    @admin.display(description="state")
    def state(self, token: ApiToken) -> str:
        return token.state

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset) -> None:
        revoked = sum(token.revoke() for token in queryset)
        self.message_user(request, f"Revoked {revoked} token{'s' if revoked != 1 else ''}.", messages.SUCCESS)


@admin.register(JiraHook)
class JiraHookAdmin(admin.ModelAdmin):
    list_display = ["project", "generate_on_create", "criteria_field", "webhook_url"]
    list_select_related = ["project"]
    readonly_fields = ["webhook_url", "created_at"]
    fields = [
        "project",
        "criteria_field",
        "generate_on_create",
        "test_cases",
        "scenarios_per_test",
        "test_types",
        "secret",
        "webhook_url",
        "created_at",
    ]

    @admin.display(description="webhook URL (for senders without a token)")
    def webhook_url(self, hook: JiraHook) -> str:
        return reverse("api:jira_hook_by_secret", args=[hook.secret]) if hook.pk else "(saved first)"


@admin.register(HookDelivery)
class HookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["delivery_id", "story_key", "outcome", "received_at"]
    search_fields = ["delivery_id", "story_key"]

    def has_add_permission(self, request) -> bool:
        return False
