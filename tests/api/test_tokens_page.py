"""The account's "API tokens" page and the admin."""

from api.models import ApiToken
from tests.api.conftest import ApiClient


def test_a_new_token_is_shown_once_and_works(client_logged_in, user, story):
    response = client_logged_in.post("/account/api-tokens/", {"name": "Jira automation", "expires_in": "30"})
    html = response.content.decode()
    row = ApiToken.objects.get()
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    raw = html.split('class="token-value"')[0].rsplit('value="', 1)[1].split('"')[0]
    assert raw.startswith(row.prefix)
    assert "shown only once" in html
    assert row.name == "Jira automation" and row.expires_at is not None
    assert ApiClient(raw).get("/api/jobs/00000000-0000-4000-8000-000000000000").status_code == 404

    again = client_logged_in.get("/account/api-tokens/").content.decode()
    assert raw not in again
    assert "Jira automation" in again and f"{row.prefix}…" in again


def test_revoking_from_the_page_stops_the_token(client_logged_in, user):
    row, raw = ApiToken.objects.issue(user, "CI")
    response = client_logged_in.post(f"/account/api-tokens/{row.pk}/revoke", follow=True)
    assert "stops working at once" in response.content.decode()
    assert ApiClient(raw).get("/api/stories").json()["code"] == "token_revoked"


def test_the_page_needs_login(client, db):
    assert client.get("/account/api-tokens/")["Location"].startswith("/login/")


def test_a_name_is_required(client_logged_in):
    response = client_logged_in.post("/account/api-tokens/", {"name": ""})
    assert "This field is required" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_admins_see_tokens_but_never_the_secret_and_can_revoke(admin_user_logged_in, user):
    row, raw = ApiToken.objects.issue(user, "CI")
    page = admin_user_logged_in.get("/admin/api/apitoken/").content.decode()
    assert "CI" in page and row.prefix in page and raw not in page and row.token_hash not in page
    admin_user_logged_in.post("/admin/api/apitoken/", {"action": "revoke", "_selected_action": [row.pk]}, follow=True)
    row.refresh_from_db()
    assert row.state == "revoked"
    assert admin_user_logged_in.get("/admin/api/apitoken/add/").status_code == 403
