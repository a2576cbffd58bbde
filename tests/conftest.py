# Environment defaults for tests (DEBUG, SECRET_KEY, an empty GEMINI_API_KEY) are set by pytest-env in pyproject.toml,
# because pytest-django imports the settings before any conftest runs.
import time

import pytest

from stories import permissions
from stories.models import Role
from tests import factories


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item):
    """Before a test's fixtures (its database) go: the model calls it made in this process are told to the rate
    limiter's store now, not by the limiter's thread a moment later, when the database is gone."""
    from generation.engine.limiter import LIMITER

    LIMITER.drain()


def pytest_collection_modifyitems(items):
    # Browser tests run last: playwright's sync API leaves an event loop running in the main thread for the rest of
    # the session, and asyncio.run() (the engine, the SSE tests) refuses to start inside a running loop.
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
    # `make test` runs two pytest-xdist workers with `--dist loadgroup --no-loadscope-reorder`: each worker runs its
    # tests in this order (pytest-django's: tests rolled back before transactional ones, which flush what the
    # migrations wrote; browser tests last). The tests of a module that use a module-scoped fixture (a qcluster, a
    # daphne, a fresh checkout) are one group, run together by one worker where the first of them stands, so the
    # fixture starts once.
    for item in items:
        if any(defs[-1].scope == "module" for defs in item._fixtureinfo.name2fixturedefs.values()):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))


@pytest.fixture(scope="session", autouse=True)
def flush_again_after_a_deadlock():
    """Transactional tests end with one TRUNCATE of every table. On PostgreSQL a query that a live server's stream
    or a cluster still runs at that moment, reading several tables, can deadlock with it, and PostgreSQL cancels one of
    the two: sometimes the flush (seen once in a browser test's teardown). The flush is one transaction, so a
    cancelled one changed nothing and is simply run again."""
    from django.core.management.base import CommandError
    from django.db import OperationalError
    from django.test import TransactionTestCase

    flush = TransactionTestCase._fixture_teardown

    def flush_retrying(self):
        for attempt in range(1, 4):
            try:
                return flush(self)
            except CommandError as error:  # flush wraps the database's error: "… couldn't be flushed"
                deadlock = isinstance(error.__cause__, OperationalError) and "deadlock" in str(error.__cause__)
                if not deadlock or attempt == 3:
                    raise
                time.sleep(0.2 * attempt)

    TransactionTestCase._fixture_teardown = flush_retrying
    yield
    TransactionTestCase._fixture_teardown = flush


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # PBKDF2 costs about a second per user on these machines; tests are about behaviour, not hashing strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def user(db):
    return factories.make_user("lead")


@pytest.fixture
def client_logged_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def admin_user_logged_in(client, db):
    admin = factories.make_user("admin", is_staff=True, is_superuser=True)
    client.force_login(admin)
    return client


@pytest.fixture
def project(db, user):
    """The SHOP project, with the signed-in lead (`user`, `client_logged_in`) as one of its editors."""
    project = factories.make_project(key="SHOP", name="Web shop")
    permissions.grant(user, project, Role.EDITOR)
    return project


@pytest.fixture
def story(project):
    return factories.make_story(project=project, key="SHOP-12", title="Add items to the cart")


@pytest.fixture
def frozen_broker(monkeypatch, settings):
    """The broker is Redis that accepts connections and never answers (a frozen Redis), with a 0.5 s queue timeout."""
    import django_q.tasks
    import redis
    from django_q.brokers.redis_broker import Redis

    from tests.services import FrozenRedis

    frozen = FrozenRedis()
    settings.QAFORGE_QUEUE_TIMEOUT_SECONDS = 0.5
    client = redis.Redis(host="127.0.0.1", port=frozen.port)  # as django-q2 builds it: no timeout of its own
    monkeypatch.setattr(Redis, "get_connection", staticmethod(lambda list_key=None: client))
    monkeypatch.setattr(django_q.tasks, "get_broker", lambda list_key=None: Redis(list_key="frozen"))
    yield frozen
    frozen.close()
