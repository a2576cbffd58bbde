"""Fixtures for the generation engine: the fake Gemini server, reached by the real SDK through GEMINI_BASE_URL."""

import pytest

from generation import ratelimit
from generation.engine import LIMITER
from tests.fake_gemini import start_fake_gemini

TEST_KEY = "test-key-not-secret"


@pytest.fixture(scope="session")
def _fake_gemini_server():
    server = start_fake_gemini()
    yield server
    server.stop()


@pytest.fixture
def fake_gemini(_fake_gemini_server, monkeypatch, settings):
    """The fake server with fresh knobs; the engine is pointed at it with a dummy key and fast retries."""
    server = _fake_gemini_server
    server.reset()
    monkeypatch.setenv("GEMINI_API_KEY", TEST_KEY)
    settings.GEMINI_BASE_URL = server.url
    settings.GEMINI_MODEL = "gemini-2.5-flash"
    settings.QAFORGE_GENERATOR = "auto"
    settings.QAFORGE_LLM_TIMEOUT_SECONDS = 5
    settings.QAFORGE_RETRY_BASE_SECONDS = 0.01
    settings.QAFORGE_RETRY_MAX_SECONDS = 0.05
    # The engine's own tests count calls in this process (its tests need no database); the database and Redis
    # stores are tested in test_ratelimit.py and through the real cluster.
    settings.QAFORGE_LLM_LIMITER = "memory"
    ratelimit._memory_store.cache_clear()
    LIMITER.reset_stats()
    yield server
    server.reset()
