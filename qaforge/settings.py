"""QAForge settings: one file, everything that varies comes from the environment.

Embedded default: SQLite under data/ and django-q2's ORM broker, no server and no API key needed.
Scale-out: DATABASE_URL=postgres://... and REDIS_URL=redis://... with qcluster workers on many machines.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent
# Local settings for this checkout (`make run` writes DEBUG=1 there; add GEMINI_API_KEY etc.), so that
# `.venv/bin/python manage.py ...`, the web server and the worker all run with the same settings. The real
# environment wins over the file; QAFORGE_ENV_FILE points elsewhere ("" for none).
ENV_FILE = os.environ.get("QAFORGE_ENV_FILE", str(BASE_DIR / ".env"))
if ENV_FILE:
    load_dotenv(ENV_FILE, override=False)
DATA_DIR = Path(os.environ.get("QAFORGE_DATA_DIR", BASE_DIR / "data"))
DATA_DIR.mkdir(parents=True, exist_ok=True)
# Uploaded import files wait here for the worker (never served: there is no MEDIA_URL route).
MEDIA_ROOT = Path(os.environ.get("QAFORGE_MEDIA_ROOT", DATA_DIR / "media"))
QAFORGE_IMPORT_MAX_BYTES = int(os.environ.get("QAFORGE_IMPORT_MAX_MB") or 50) * 1024 * 1024
QAFORGE_IMPORT_KEEP_HOURS = float(os.environ.get("QAFORGE_IMPORT_KEEP_HOURS") or 24)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (set DEBUG=1 for development).")
    SECRET_KEY = "django-insecure-qaforge-development-only"

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_q",
    "ninja",
    "simple_history",
    "stories",
    "generation",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # Lets stories.history record the signed-in user of a page, API call or admin change.
    "simple_history.middleware.HistoryRequestMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "qaforge.urls"
ASGI_APPLICATION = "qaforge.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "stories.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------------
# IMMEDIATE transactions take the write lock at BEGIN, so a web process and several workers queue on the busy
# timeout instead of failing with "database is locked" when a read transaction tries to upgrade (measured: WAL
# alone still produced hundreds of those errors under web + 2 workers).
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=20000; PRAGMA synchronous=NORMAL;",
}
DATABASE_URL = os.environ.get("DATABASE_URL", "").strip()
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DATA_DIR / "qaforge.sqlite3"}}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(SQLITE_OPTIONS)
    # The test database is a file (not :memory:) so the live server and qcluster subprocesses can share it.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "stories:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every request when it is missing
# WhiteNoise serves static files from daphne (no separate web server); with DEBUG it serves straight from static/.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

SESSION_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "qaforge.views.csrf_failure"
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page (hx-headers on <body>), not the cookie

# --- Generation -----------------------------------------------------------------------------------------------
# The API key is read where it is used (generation.engine) and never copied into a setting that might be
# printed by a debug page; GEMINI_API_KEY unset means the offline generator runs.
GEMINI_MODEL = os.environ.get("GEMINI_MODEL", "gemini-2.5-flash")
GEMINI_BASE_URL = os.environ.get("GEMINI_BASE_URL", "")
QAFORGE_GENERATOR = os.environ.get("QAFORGE_GENERATOR", "auto")  # auto | offline | gemini
QAFORGE_BATCH_SIZE = env_int("QAFORGE_BATCH_SIZE", 15)
# Cluster-wide limits on model calls (every worker on every machine together; 0 = none), see generation.ratelimit.
# Defaults fit Gemini 2.5 Flash's paid tier 1 (1,000 requests and 1,000,000 tokens a minute): set your quota.
QAFORGE_LLM_RPM = env_int("QAFORGE_LLM_RPM", 1000)
QAFORGE_LLM_TPM = env_int("QAFORGE_LLM_TPM", 1_000_000)
QAFORGE_LLM_CONCURRENCY = env_int("QAFORGE_LLM_CONCURRENCY", 400)
QAFORGE_LLM_RATE_WINDOW_SECONDS = float(os.environ.get("QAFORGE_LLM_RATE_WINDOW_SECONDS") or 60)
QAFORGE_LLM_LIMITER = os.environ.get("QAFORGE_LLM_LIMITER", "auto")  # auto (Redis if REDIS_URL, else DB) | memory
QAFORGE_LLM_TIMEOUT_SECONDS = float(os.environ.get("QAFORGE_LLM_TIMEOUT_SECONDS") or 90)
QAFORGE_LLM_MAX_ATTEMPTS = env_int("QAFORGE_LLM_MAX_ATTEMPTS", 4)
QAFORGE_RETRY_BASE_SECONDS = float(os.environ.get("QAFORGE_RETRY_BASE_SECONDS") or 1.0)
QAFORGE_RETRY_MAX_SECONDS = float(os.environ.get("QAFORGE_RETRY_MAX_SECONDS") or 20)
QAFORGE_JOB_STALE_SECONDS = env_int("QAFORGE_JOB_STALE_SECONDS", 60)
QAFORGE_JOB_MAX_ATTEMPTS = env_int("QAFORGE_JOB_MAX_ATTEMPTS", 3)
QAFORGE_SSE_POLL_SECONDS = float(os.environ.get("QAFORGE_SSE_POLL_SECONDS") or 0.25)  # the live-updates watcher
# How often an open live-updates stream or API job event stream re-checks its session or token and its user's access
# (ends within this time after a logout, deactivation, password change, revoked or expired token or lost membership).
QAFORGE_SSE_SESSION_CHECK_SECONDS = float(os.environ.get("QAFORGE_SSE_SESSION_CHECK_SECONDS") or 5)
QAFORGE_HEARTBEAT_SECONDS = float(os.environ.get("QAFORGE_HEARTBEAT_SECONDS") or 10)

# --- Queue (django-q2) ----------------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
QAFORGE_WORKERS = env_int("QAFORGE_WORKERS", 8)
# Jobs one worker process runs at once (each mostly waits on the network): 8 workers x 16 = 128 jobs in flight.
QAFORGE_JOBS_PER_WORKER = env_int("QAFORGE_JOBS_PER_WORKER", 16)
QAFORGE_TASK_TIMEOUT = env_int("QAFORGE_TASK_TIMEOUT", 600)
# Queueing waits at most this long for the broker (once for a whole selection), then answers "Could not reach…".
QAFORGE_QUEUE_TIMEOUT_SECONDS = float(os.environ.get("QAFORGE_QUEUE_TIMEOUT_SECONDS") or 3)
Q_CLUSTER = {
    # Parallel test processes (pytest-xdist workers gw0, gw1, …) sharing one Redis must not take each other's tasks,
    # also when a run names its queue (QAFORGE_QUEUE_NAME): the worker's id is appended (never set outside tests).
    "name": (os.environ.get("QAFORGE_QUEUE_NAME") or "qaforge") + os.environ.get("PYTEST_XDIST_WORKER", ""),
    "workers": QAFORGE_WORKERS,
    "timeout": QAFORGE_TASK_TIMEOUT,
    "retry": QAFORGE_TASK_TIMEOUT + 60,  # must exceed timeout, or a slow task is delivered twice
    "max_attempts": QAFORGE_JOB_MAX_ATTEMPTS,
    "recycle": 50,
    # Hold no more tasks in the cluster's memory than it has workers: a task the Redis broker has handed over sits
    # there out of the reaper's sight, so keep that short.
    "queue_limit": QAFORGE_WORKERS,
    "save_limit": 500,
    "ack_failures": True,
    "catch_up": False,
    "poll": float(os.environ.get("QAFORGE_QUEUE_POLL", "0.2")),
    "label": "Queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "qaforge": {"level": os.environ.get("QAFORGE_LOG_LEVEL", "INFO"), "propagate": True},
        "django_q": {"level": "WARNING"},
    },
}
