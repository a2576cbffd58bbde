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
