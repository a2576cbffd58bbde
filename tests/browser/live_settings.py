"""Settings for the daphne subprocess of the browser tests: the real settings, with no persistent connections.

The test process truncates every table between tests and drops the test database at the end; a server that keeps
connections open (CONN_MAX_AGE > 0, the PostgreSQL default in qaforge.settings) could hold them across both.
dj-database-url passes URL query options to the driver, so this cannot ride on DATABASE_URL.
"""

from qaforge.settings import *  # noqa: F403
from qaforge.settings import DATABASES

DATABASES["default"]["CONN_MAX_AGE"] = 0

# Test users are created with the fast MD5 hasher (tests/conftest.py); the server must be able to check them.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
