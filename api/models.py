"""Personal API tokens: a script, a CI job or a tracker acts as the user who created the token.

The token itself is shown once, when it is made; the database keeps its SHA-256 (a token is 256 random bits, so a
fast hash is enough: nothing to brute-force, and lookups stay one indexed query) and a short prefix that lets
people and admins tell tokens apart.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from generation.options import DEFAULT_SCENARIOS_PER_TEST, DEFAULT_TEST_CASES

TOKEN_PREFIX = "qaf_"
# Writing last_used_at on every request would make every API call a write; once a minute is precise enough.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class TokenError(Exception):
    """A token that cannot be used; `code` is stable (for programs), `str()` is for a person."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class ApiTokenQuerySet(models.QuerySet):
    def issue(self, user, name: str, expires_at=None) -> tuple[ApiToken, str]:
        """Create a token for `user`; returns (token row, the raw token to show once)."""
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = self.create(
            user=user,
            name=name.strip() or "API token",
            prefix=raw[:12],
            token_hash=hash_token(raw),
            expires_at=expires_at,
        )
        return token, raw

    def authenticate(self, raw: str):
        """The active user `raw` belongs to; raises TokenError (unknown, revoked, expired, inactive user)."""
        raw = (raw or "").strip()
        token = self.select_related("user").filter(token_hash=hash_token(raw)).first() if raw else None
        if token is None:
            raise TokenError("token_invalid", "This API token is not valid.")
        if token.revoked_at is not None:
            raise TokenError("token_revoked", "This API token was revoked.")
        now = timezone.now()
        if token.expires_at is not None and token.expires_at <= now:
            raise TokenError("token_expired", "This API token has expired.")
        if not token.user.is_active:
            raise TokenError("user_inactive", "The account this API token belongs to is deactivated.")
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
            self.model.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What uses it, e.g. 'CI pipeline' or 'Jira automation'.")
    prefix = models.CharField(max_length=12, help_text="The first characters of the token, to tell tokens apart.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"

    def revoke(self) -> bool:
        """Stop the token working at once; False if it was already revoked."""
        return bool(ApiToken.objects.filter(pk=self.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()))


def _new_secret() -> str:
    return secrets.token_urlsafe(24)


class JiraHook(models.Model):
    """How one project takes Jira's issue webhooks: where acceptance criteria live, and whether a new story is
    generated for at once (with these options, validated by generation.options.GenerationOptions)."""

    project = models.OneToOneField("stories.Project", on_delete=models.CASCADE, related_name="jira_hook")
    secret = models.CharField(
        max_length=64,
        unique=True,
        default=_new_secret,
        help_text="Part of the webhook URL (/api/hooks/jira/<secret>) for senders that cannot send a token.",
    )
    criteria_field = models.CharField(
        max_length=100,
        blank=True,
        help_text="The Jira field holding acceptance criteria: its id (customfield_10042) or its name "
        "(Acceptance Criteria). Empty: criteria are looked for in the description.",
    )
    generate_on_create = models.BooleanField(
        default=False, help_text="Queue a generation as soon as a webhook creates a story."
    )
    test_cases = models.PositiveSmallIntegerField(default=DEFAULT_TEST_CASES)
    scenarios_per_test = models.PositiveSmallIntegerField(default=DEFAULT_SCENARIOS_PER_TEST)
    test_types = models.JSONField(default=list, blank=True, help_text='e.g. ["FUNCTIONAL", "UI"]; empty: the default')
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "Jira webhook"

    def __str__(self) -> str:
        return f"Jira webhook of {self.project.key}"

    def options(self):
        """The project's default generation options (the dialog's defaults where none are set)."""
        from generation.options import GenerationOptions

        return GenerationOptions.parse(
            test_cases=self.test_cases, scenarios_per_test=self.scenarios_per_test, test_types=self.test_types or None
        )

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from generation.options import OptionsError

        try:
            self.options()
        except OptionsError as error:
            raise ValidationError(error.messages) from None


class HookDelivery(models.Model):
    """A webhook delivery already handled, by the sender's delivery id: a retried delivery changes nothing twice."""

    delivery_id = models.CharField(max_length=200, unique=True)
    story_key = models.CharField(max_length=50, blank=True)
    outcome = models.CharField(max_length=20, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at"]
        verbose_name_plural = "hook deliveries"

    def __str__(self) -> str:
        return f"{self.delivery_id} → {self.story_key} ({self.outcome})"
