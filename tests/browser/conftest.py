"""Browser-test fixtures: the real ASGI app under daphne, Debian's Chromium through playwright, a logged-in page.

    def test_something(logged_in_page, asgi_server):
        make_story(...)                       # committed: the tests here run with `transactional_db`
        logged_in_page.goto("/stories/")      # pages have base_url = the server's URL
        screenshot(logged_in_page, "stories") # test-artifacts/stories.png
        asgi_server.restart()                 # same port; the page can reconnect by itself

Fixtures: `asgi_server` (LiveServer: .url, .port, .restart(), .stop(), .start(), .log()), `live_server_url` (str),
`browser` (session), `page` (anonymous), `logged_in_page` (signed in as `browser_user`), `browser_user`.
On failure the daphne log and the browser console are printed and a screenshot is saved in test-artifacts/.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db.models.signals import post_save
from django.test import Client

from stories import permissions
from stories.models import Project, Role
from tests import factories
from tests.services import ROOT, Daphne

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"
PAGE_TIMEOUT_MS = 10_000

_reports = pytest.StashKey[dict]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # Keep each phase's report on the item, so fixtures can tell in their teardown whether the test failed.
    report = yield
    item.stash.setdefault(_reports, {})[report.when] = report
    return report


def _failed(request) -> bool:
    reports = request.node.stash.get(_reports, {})
    return any(r.failed for r in reports.values())


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot as test-artifacts/<name>.png (call it at the states worth looking at)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name).strip('-')}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


class LiveServer(Daphne):
    """`tests.services.Daphne` with the browser tests' settings (`tests.browser.live_settings`: no persistent
    database connections, the tests' password hasher), against the test database.

    stop()/start()/restart() keep the port, so a page that is open can reconnect to the new process.
    """

    def __init__(self, log_path: Path, **env: str):
        super().__init__(log_path, DJANGO_SETTINGS_MODULE="tests.browser.live_settings", PYTHONPATH=str(ROOT), **env)


@pytest.fixture(scope="session")
def _daphne(django_db_setup, tmp_path_factory):
    # One server per test session (per xdist worker): started by the first test that needs it, against the test
    # database django_db_setup created. Tables are flushed between tests; the server keeps no connection open.
    server = LiveServer(tmp_path_factory.mktemp("daphne") / "daphne.log")
    yield server
    server.stop()


@pytest.fixture
def asgi_server(transactional_db, _daphne, request):
    """The running LiveServer. Data must be committed to be visible to it, hence transactional_db."""
    _daphne.start()
    log_start = len(_daphne.log())
    yield _daphne
    if not _daphne.running:
        _daphne.start()  # a test that stopped the server leaves it running for the next one
    if _failed(request):
        sys.stderr.write(f"---- daphne log during {request.node.name} ----\n{_daphne.log()[log_start:][-8000:]}\n")


@pytest.fixture
def live_server_url(asgi_server) -> str:
    return asgi_server.url


@pytest.fixture(scope="session")
def _playwright():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop registered as running in this thread; Django would then refuse ORM
    # calls from the (truly synchronous) test function with SynchronousOnlyOperation.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    yield playwright
    playwright.stop()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def browser(_playwright):
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's Chromium with `apt-get install chromium` "
            "(the browser tests never download a browser; .ci/run installs it).",
            pytrace=False,
        )
    browser = _playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def browser_user(transactional_db):
    """The QA lead driving the browser: an editor of every project the test creates (stories.permissions)."""
    lead = factories.make_user("browser-lead")

    def join(sender, instance, created, **kwargs):
        if created:
            permissions.grant(lead, instance, Role.EDITOR)

    post_save.connect(join, sender=Project, weak=False, dispatch_uid="browser-lead-joins-projects")
    yield lead
    post_save.disconnect(sender=Project, dispatch_uid="browser-lead-joins-projects")


def _new_page(browser, asgi_server, request, cookies=()):
    context = browser.new_context(base_url=asgi_server.url, viewport={"width": 1280, "height": 900})
    if cookies:
        context.add_cookies(list(cookies))
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    yield page
    if _failed(request):
        try:
            path = screenshot(page, f"FAILED-{request.node.name}")
            sys.stderr.write(f"screenshot: {path}\n")
        except Exception as error:  # the page may be gone; the report matters more than the picture
            sys.stderr.write(f"no screenshot: {error}\n")
        sys.stderr.write("---- browser console ----\n" + "\n".join(console[-100:]) + "\n")
    context.close()


@pytest.fixture
def page(browser, asgi_server, request):
    """A fresh, anonymous browser page (own context) on the live server."""
    yield from _new_page(browser, asgi_server, request)


@pytest.fixture
def logged_in_page(browser, asgi_server, browser_user, request):
    """A page signed in as `browser_user` (a session made in the test database, handed to the browser as a cookie)."""
    client = Client()
    client.force_login(browser_user)
    cookie = {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": asgi_server.url,
    }
    yield from _new_page(browser, asgi_server, request, cookies=[cookie])
