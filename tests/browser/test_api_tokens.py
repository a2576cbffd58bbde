"""Real Chromium: a QA lead makes an API token on their account page, copies it once, and revokes it."""

import pytest
from playwright.sync_api import expect

from api.models import ApiToken
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.mark.parametrize("width", [1280, 390])
def test_make_copy_and_revoke_a_token(logged_in_page, width):
    page = logged_in_page
    page.set_viewport_size({"width": width, "height": 800})
    page.goto("/stories/")
    page.locator(".user-menu summary").click()
    page.get_by_role("link", name="API tokens").click()
    expect(page.get_by_role("heading", name="API tokens", exact=True)).to_be_visible()

    page.get_by_label("Name").fill("CI pipeline")
    page.get_by_label("Expires").select_option("30")
    page.get_by_role("button", name="Create token").click()

    shown = page.get_by_label("New API token")
    expect(shown).to_be_focused()
    raw = shown.input_value()
    assert raw.startswith(ApiToken.objects.get().prefix)
    expect(page.locator(f"#token-{ApiToken.objects.get().pk}")).to_contain_text("Active")
    screenshot(page, f"api-tokens-new-{width}")

    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_label("New API token")).to_have_count(0)  # shown once only
    expect(page.locator(".token-state")).to_have_text("Revoked")
    screenshot(page, f"api-tokens-revoked-{width}")


def test_the_api_docs_render_from_local_assets(logged_in_page):
    page = logged_in_page
    failed = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto("/api/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("QAForge API")
    expect(page.locator(".opblock-summary-path", has_text="/api/stories/{key}/generate").first).to_be_visible()
    screenshot(page, "api-docs")
    assert not failed  # every asset served by QAForge itself (no CDN: no internet at run time)
