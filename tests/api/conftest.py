import pytest
from django.test import Client

from api.models import ApiToken


class ApiClient(Client):
    """A client that sends a personal API token and no session or CSRF token, like a script or a CI job.

    `post`/`patch`/`put` send JSON by default."""

    def __init__(self, raw_token: str, **kwargs):
        super().__init__(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {raw_token}"}, **kwargs)
        self.raw_token = raw_token

    def _json(self, method, path, data=None, **kwargs):
        kwargs.setdefault("content_type", "application/json")
        return getattr(super(), method)(path, data if data is not None else {}, **kwargs)

    def post(self, path, data=None, **kwargs):
        return self._json("post", path, data, **kwargs)

    def patch(self, path, data=None, **kwargs):
        return self._json("patch", path, data, **kwargs)

    def put(self, path, data=None, **kwargs):
        return self._json("put", path, data, **kwargs)


@pytest.fixture
def token(user):
    _row, raw = ApiToken.objects.issue(user, "tests")
    return raw


@pytest.fixture
def api(token):
    return ApiClient(token)
