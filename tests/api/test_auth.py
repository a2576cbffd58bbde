"""Who may call the API: personal tokens (no CSRF), sessions (CSRF kept), and clear 401s for bad tokens."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from api.models import ApiToken
from generation.models import GenerationJob
from tests import factories
from tests.api.conftest import ApiClient


def test_a_token_acts_as_its_user_without_csrf_or_session(api, story, user):
    response = api.post("/api/stories/SHOP-12/generate", {"test_cases": 1})
    assert response.status_code == 202
    assert GenerationJob.objects.get().requested_by == user


def test_the_token_is_stored_hashed_and_shown_once(user):
    row, raw = ApiToken.objects.issue(user, "CI pipeline")
    assert raw.startswith("qaf_") and len(raw) > 40
    assert raw not in (row.token_hash, row.prefix)
    assert raw.startswith(row.prefix)
    assert not ApiToken.objects.filter(token_hash=raw).exists()


@pytest.mark.parametrize(
    "state, code, message",
    [
        ("revoked", "token_revoked", "revoked"),
        ("expired", "token_expired", "expired"),
        ("inactive", "user_inactive", "deactivated"),
    ],
)
def test_revoked_expired_and_inactive_tokens_get_401_json(api, story, user, state, code, message):
    row = ApiToken.objects.get()
    if state == "revoked":
        row.revoke()
    elif state == "expired":
        row.expires_at = timezone.now() - timedelta(seconds=1)
        row.save()
    else:
        user.is_active = False
        user.save()
    response = api.get("/api/stories")
    assert response.status_code == 401
    assert response.json()["code"] == code
    assert message in response.json()["error"]
    assert response["WWW-Authenticate"] == "Bearer"
    assert api.post("/api/stories/SHOP-12/generate").status_code == 401
    assert not GenerationJob.objects.exists()


def test_an_unknown_token_is_401_even_with_a_valid_session(story, user):
    client = ApiClient("qaf_not-a-real-token")
    client.force_login(user)
    response = client.get(f"/api/jobs/{GenerationJob.objects.create(story=story).pk}")
    assert (response.status_code, response.json()["code"]) == (401, "token_invalid")


def test_no_credentials_at_all_is_401_json(client, story):
    response = client.get("/api/stories")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_sessions_keep_csrf(story, user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/api/stories/SHOP-12/generate", {}, content_type="application/json")
    assert (response.status_code, response.json()["code"]) == (403, "csrf_failed")
    assert not GenerationJob.objects.exists()
    client.get("/stories/")  # a page sets the CSRF cookie, as in a browser
    csrf = client.cookies["csrftoken"].value
    response = client.post(
        "/api/stories/SHOP-12/generate", {}, content_type="application/json", headers={"X-CSRFToken": csrf}
    )
    assert response.status_code == 202


def test_last_used_is_recorded_without_a_write_per_request(api, story):
    row = ApiToken.objects.get()
    assert row.last_used_at is None
    api.get("/api/stories")
    row.refresh_from_db()
    first = row.last_used_at
    assert first is not None
    api.get("/api/stories")
    row.refresh_from_db()
    assert row.last_used_at == first  # within a minute: not written again


def test_the_command_prints_a_working_token_once(story, user, capsys):
    call_command("api_token", user.username, "--name", "CI")
    raw = capsys.readouterr().out.strip()
    assert ApiToken.objects.get(name="CI").prefix == raw[:12]
    assert ApiClient(raw).get("/api/jobs/00000000-0000-4000-8000-000000000000").json()["code"] == "job_not_found"


def test_the_command_lists_and_revokes(user, capsys):
    row, raw = ApiToken.objects.issue(user, "old")
    call_command("api_token", user.username, "--list")
    assert f"{row.prefix}…  active" in capsys.readouterr().out
    call_command("api_token", user.username, "--revoke", row.prefix)
    row.refresh_from_db()
    assert row.state == "revoked"


def test_the_command_refuses_an_unknown_user(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no user 'ghost'"):
        call_command("api_token", "ghost")


def test_tokens_of_other_users_cannot_be_revoked_from_the_page(client_logged_in, db):
    other = factories.make_user("other")
    row, _raw = ApiToken.objects.issue(other, "theirs")
    assert client_logged_in.post(f"/account/api-tokens/{row.pk}/revoke").status_code == 404
    row.refresh_from_db()
    assert row.state == "active"
