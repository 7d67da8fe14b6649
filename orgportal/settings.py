"""Settings, all from the environment (12-factor). `.env.example` lists every variable.

With no environment at all the project runs on the embedded default: SQLite, no Redis,
the sandbox upstream on its default port with its default organization key.
"""

import tempfile
from pathlib import Path

import environ
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent
RUN_DIR = BASE_DIR / ".run"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# The embedded default derives a stable key so a fresh checkout runs; production sets its own.
SECRET_KEY = env.str(
    "SECRET_KEY", default="orgportal-embedded-default-not-for-production"
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served locally: the docs work offline
    "django_htmx",  # ships htmx as a static file: nothing is fetched at run time
    "members",
    "marketdata",
    "sandbox",
]

MIDDLEWARE = [
    "orgportal.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (admin, API docs) straight from the web process; no CDN, no extra server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "orgportal.urls"
ASGI_APPLICATION = "orgportal.asgi.application"
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
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url(
        "DATABASE_URL", default=f"sqlite:///{RUN_DIR / 'orgportal.sqlite3'}"
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # psycopg 3's pool; a pooled connection must not be persistent as well.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN", default=2),
        "max_size": env.int("DATABASE_POOL_MAX", default=20),
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the worker read while the web process writes; IMMEDIATE takes the write lock
    # at BEGIN so two writers queue instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # Tests use a file, not the shared in-memory database: threads of the test process
    # (the gateway's) then wait on locks as production does instead of failing at once.
    DATABASES["default"].setdefault("TEST", {})["NAME"] = env.str(
        "TEST_SQLITE_PATH",
        default=str(Path(tempfile.gettempdir()) / "orgportal-test.sqlite3"),
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
# Every Redis key and channel of this deployment starts with this (several deployments,
# or test runs, can share one Redis).
REDIS_KEY_PREFIX = env.str("REDIS_KEY_PREFIX", default="orgportal")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/admin/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = RUN_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve from the apps' static folders too, so a checkout works before collectstatic.
WHITENOISE_USE_FINDERS = True

# Request bodies above this are refused with 413 before they are parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BYTES", default=64 * 1024)

# --- Upstream: InsightSentry Organization API -------------------------------------------
SANDBOX_PORT = env.int("SANDBOX_PORT", default=8001)
WEB_PORT = env.int("WEB_PORT", default=8000)
SANDBOX_ORG_KEY = env.str("SANDBOX_ORG_KEY", default="sandbox-org-key")
SANDBOX_SEED = env.int("SANDBOX_SEED", default=42)
UPSTREAM_ORG_URL = env.str(
    "UPSTREAM_ORG_URL", default=f"http://127.0.0.1:{SANDBOX_PORT}"
)
UPSTREAM_ORG_KEY = env.str("UPSTREAM_ORG_KEY", default=SANDBOX_ORG_KEY)
UPSTREAM_TIMEOUT = env.float("UPSTREAM_TIMEOUT", default=10.0)
UPSTREAM_CONNECT_TIMEOUT = env.float("UPSTREAM_CONNECT_TIMEOUT", default=3.0)
UPSTREAM_MAX_RETRIES = env.int("UPSTREAM_MAX_RETRIES", default=3)
UPSTREAM_BACKOFF_BASE = env.float("UPSTREAM_BACKOFF_BASE", default=0.2)
UPSTREAM_BACKOFF_CAP = env.float("UPSTREAM_BACKOFF_CAP", default=5.0)

# --- Upstream: InsightSentry market data REST -------------------------------------------
UPSTREAM_MARKET_URL = env.str(
    "UPSTREAM_MARKET_URL", default=f"http://127.0.0.1:{SANDBOX_PORT}"
)
MARKET_TIMEOUT = env.float(
    "MARKET_TIMEOUT", default=30.0
)  # long_poll answers take a while
MARKET_CACHE_TTL = env.float("MARKET_CACHE_TTL", default=30.0)
# Start the upstream request alongside the limiter's Redis call when a member has recent
# headroom (nothing reaches the client before the verdict). false: count, then forward.
MARKET_SPECULATE = env.bool("MARKET_SPECULATE", default=True)
USAGE_FLUSH_INTERVAL = env.float("USAGE_FLUSH_INTERVAL", default=5.0)

# --- Secrets at rest and keys ------------------------------------------------------------
# Fernet key(s), comma separated, newest first; the embedded default derives one from
# SECRET_KEY so a fresh checkout runs.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
GATEWAY_KEY_SIGNING_SECRET = env.str("GATEWAY_KEY_SIGNING_SECRET", default="")

# --- Organization ------------------------------------------------------------------------
ORG_AUTO_RENEW_DEFAULT = env.bool("ORG_AUTO_RENEW_DEFAULT", default=True)

# --- Renewals and notifications (defaults for the organisation's settings row) -----------
RENEWAL_REMINDER_DAYS = [
    int(d) for d in env.list("RENEWAL_REMINDER_DAYS", default=["7", "3", "1"])
]
AUTO_RENEW_LEAD_HOURS = env.int("AUTO_RENEW_LEAD_HOURS", default=24)
LOW_BALANCE_DAYS = env.int("LOW_BALANCE_DAYS", default=7)
NOTIFY_EMAILS = env.list("NOTIFY_EMAILS", default=[])
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="orgportal@localhost")
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=10.0)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=12)
ORG_MEMBER_EMAIL_DOMAIN = env.str("ORG_MEMBER_EMAIL_DOMAIN", default="company.com")
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)

# --- Celery ------------------------------------------------------------------------------
# Redis in production; with no Redis the embedded default uses kombu's filesystem
# transport, which needs no server at all.
if REDIS_URL:
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
else:
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
    _broker_dir = str(RUN_DIR / "broker")
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": _broker_dir,
        "data_folder_out": _broker_dir,
        "processed_folder": str(RUN_DIR / "broker-processed"),
        # Broadcast (worker remote control) files, kept under .run/ too.
        "control_folder": str(RUN_DIR / "broker-control"),
        "store_processed": False,
    }
# One queue name per deployment (or per test run) sharing a broker.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="celery")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(RUN_DIR / "celerybeat-schedule")


def _hh_mm(name: str, default: str) -> tuple[int, int]:
    """A UTC time of day from the environment, "HH:MM"."""
    value = env.str(name, default=default)
    try:
        hour, minute = (int(part) for part in value.split(":"))
        if 0 <= hour < 24 and 0 <= minute < 60:
            return hour, minute
    except ValueError:
        pass
    raise environ.ImproperlyConfigured(
        f"{name} must be a UTC time HH:MM, not {value!r}"
    )


_QUOTA_RESET_AT = _hh_mm("QUOTA_RESET_AT", "00:01")
_USAGE_ROLLUP_AT = _hh_mm("USAGE_ROLLUP_AT", "00:10")
# Every interval is configurable; the scheduled work itself is safe to run twice.
CELERY_BEAT_SCHEDULE = {
    "resolve-pending-operations": {
        "task": "members.tasks.operations_resolve_pending",
        "schedule": env.float("OPERATION_RESOLVE_INTERVAL", default=60.0),
    },
    # Reminders, auto-renewals, expiries and the low-balance forecast.
    "renewals": {
        "task": "members.tasks.renewals_run",
        "schedule": env.float("RENEWALS_INTERVAL", default=300.0),
    },
    "deliver-notifications": {
        "task": "members.tasks.deliveries_retry_due",
        "schedule": env.float("DELIVERY_RETRY_INTERVAL", default=30.0),
    },
    "quota-exceeded-notify": {
        "task": "members.tasks.quota_exceeded_notify",
        "schedule": env.float("QUOTA_NOTIFY_INTERVAL", default=300.0),
    },
    "monthly-quota-reset": {
        "task": "members.tasks.quota_reset",
        "schedule": crontab(
            minute=_QUOTA_RESET_AT[1], hour=_QUOTA_RESET_AT[0], day_of_month=1
        ),
    },
    "daily-usage-rollup": {
        "task": "members.tasks.usage_rollup",
        "schedule": crontab(minute=_USAGE_ROLLUP_AT[1], hour=_USAGE_ROLLUP_AT[0]),
    },
    "reconcile-with-upstream": {
        "task": "members.tasks.reconcile",
        "schedule": env.float("RECONCILE_INTERVAL", default=3600.0),
    },
    "clean-idempotency-keys": {
        "task": "members.tasks.idempotency_keys_clean",
        "schedule": 3600.0,
    },
    "clean-login-attempts": {
        "task": "members.tasks.login_attempts_clean",
        "schedule": 86_400.0,
    },
}

# --- REST API ----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["members.auth.ServiceTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "members.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "orgportal API",
    "DESCRIPTION": (
        "Organization API mirror and extensions for the parent SaaS backend. "
        "Credit amounts are decimal strings with two places. Every POST and DELETE "
        "honours an Idempotency-Key header."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The notification webhooks' payloads (OpenAPI 3.1 `webhooks`).
    "OAS_VERSION": "3.1.0",
    "WEBHOOKS": [
        f"members.webhook_schema.WEBHOOK_{name}"
        for name in (
            "RENEWAL_DUE",
            "RENEWED",
            "RENEWAL_FAILED",
            "EXPIRED",
            "LOW_BALANCE",
            "QUOTA_EXCEEDED",
        )
    ],
}

# --- Logging: one JSON object per line ----------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "orgportal.logging.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # A 4xx is an answer to a client, not a server problem.
        "django.request": {"level": "ERROR"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

# --- Portal ---------------------------------------------------------------------------
# The staff web portal (members/views/). Sign-in at /login/; roles are the groups
# owner > admin > viewer (a superuser counts as owner).
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Secure cookies need HTTPS; the embedded default serves plain HTTP on loopback.
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)  # seconds
X_FRAME_OPTIONS = "DENY"
# Lockout: this many failed sign-ins for one username, or from one IP address, within
# the window lock that username or address out for PORTAL_LOCKOUT_MINUTES.
PORTAL_LOCKOUT_FAILURES = env.int("PORTAL_LOCKOUT_FAILURES", default=5)
PORTAL_LOCKOUT_WINDOW_MINUTES = env.int("PORTAL_LOCKOUT_WINDOW_MINUTES", default=15)
PORTAL_LOCKOUT_MINUTES = env.int("PORTAL_LOCKOUT_MINUTES", default=15)
TEMPLATES[0]["OPTIONS"]["context_processors"].append(
    "members.views.common.portal_context"
)
