# Environment defaults for tests (DEBUG, SECRET_KEY, an empty GEMINI_API_KEY) are set by pytest-env in pyproject.toml,
# because pytest-django imports the settings before any conftest runs.
import pytest

from stories import permissions
from stories.models import Role
from tests import factories


def pytest_collection_modifyitems(items):
    # Browser tests run last: playwright's sync API leaves an event loop running in the main thread for the rest of
    # the session, and asyncio.run() (the engine, the SSE tests) refuses to start inside a running loop.
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


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
