"""Who is calling: a personal API token (`Authorization: Bearer …`, no CSRF) or the browser's session (CSRF kept).

The token acts as its user: `request.user` becomes the token's user, so every permission check that pages make
applies unchanged.
"""

from __future__ import annotations

from django.conf import settings
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from api.errors import ApiError
from api.models import ApiToken, TokenError

CSRF_FAILED = (
    "CSRF check failed: a browser session must send its CSRF token in the X-CSRFToken header "
    "(scripts should use an API token instead)."
)


class TokenAuth(HttpBearer):
    """A Bearer token; a bad one is a 401 at once (never a silent fall-back to the session)."""

    def authenticate(self, request, token: str):
        try:
            user = ApiToken.objects.authenticate(token)
        except TokenError as error:
            raise ApiError(401, error.code, str(error)) from error
        request.user = user
        request.api_token_used = True
        return user


class SessionAuth(APIKeyCookie):
    """Django's session, as the pages use it; unsafe methods need the CSRF token, as on the pages."""

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request):
        if not request.user.is_authenticated:
            return None  # anonymous: a 401, not a CSRF complaint
        if check_csrf(request) is not None:
            raise ApiError(403, "csrf_failed", CSRF_FAILED)
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request, key):
        return request.user if request.user.is_authenticated else None


token_or_session = [TokenAuth(), SessionAuth()]
