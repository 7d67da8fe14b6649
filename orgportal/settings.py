"""Settings, all from the environment (12-factor). `.env.example` lists every variable.

With no environment at all the project runs on the embedded default: SQLite, no Redis,
the sandbox upstream on its default port with its default organization key.
"""

import datetime as dt
import os
import tempfile
from pathlib import Path

from celery.schedules import crontab

from orgportal import config, keys
from orgportal.logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

# orgportal.config holds the parsing rules: a malformed .env line, a DEBUG that is not
# true/false or a DATABASE_URL that is not one is a one-line error naming the variable.
config.load_env_file(BASE_DIR / ".env")
env = config.Env()

# The embedded default's data: SQLite database, broker, static files, generated secrets.
RUN_DIR = Path(env.str("RUN_DIR", default=str(BASE_DIR / ".run")))
# pytest sets PYTEST_VERSION for its session: tests get fixed secrets of their own and
# the embedded default's plain-HTTP security defaults, whatever database they use.
_TESTS = "PYTEST_VERSION" in os.environ
# A deployment: HTTPS-only cookies, redirects and HSTS unless the environment says not.
_DEPLOYED = not config.embedded_default() and not _TESTS

# Parsed before anything that depends on whether it is set: a DATABASE_URL that is not
# one is the mistake to report, not the secrets a deployment would then need.
_DATABASE = config.database(
    env.str("DATABASE_URL", default="") or f"sqlite:///{RUN_DIR / 'orgportal.sqlite3'}"
)
DEBUG = env.bool("DEBUG", default=False)
# Outside the embedded default a missing or malformed secret stops the start here, with
# one message naming each (orgportal/keys.py); the embedded default generates its own
# once into RUN_DIR.
_SECRETS = keys.secrets_load(
    os.environ,
    run_dir=RUN_DIR,
    embedded=config.embedded_default(),
    testing=_TESTS,
)
SECRET_KEY = _SECRETS.secret_key
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
    "axes",  # sign-in lockout, for the portal and Django admin alike
    "members",
    "billing",  # the credit ledger: accounts, transactions, lots, refunds
    "notifications",  # events for the parent SaaS, by email and signed webhooks
    "renewals",  # reminders, auto-renewals, expiries and reconciliation with upstream
    "portal",  # the staff web portal (no models)
    "marketdata",
    "brokerage",  # members' Aries brokerage links
    "api",  # the REST API; its app registers the OpenAPI auth scheme
    "sandbox",
    "outbound",  # checks where operator-named URLs may send to
]

# (middleware, run by the REST API too), outermost first. The API's own request cycle
# (orgportal.apihandler) runs its share in one worker thread: a service token needs no
# session, CSRF, sign-in, htmx, messages or lock-out, nor static files.
_MIDDLEWARE = [
    ("orgportal.middleware.RequestMetricsMiddleware", True),
    ("django.middleware.security.SecurityMiddleware", True),
    # Static files (admin, API docs) from the web process; no CDN, no extra server.
    ("whitenoise.middleware.WhiteNoiseMiddleware", False),
    ("django.contrib.sessions.middleware.SessionMiddleware", False),
    ("django.middleware.common.CommonMiddleware", True),
    ("django.middleware.csrf.CsrfViewMiddleware", False),
    ("django.contrib.auth.middleware.AuthenticationMiddleware", False),
    ("django_htmx.middleware.HtmxMiddleware", False),
    ("django.contrib.messages.middleware.MessageMiddleware", False),
    ("django.middleware.clickjacking.XFrameOptionsMiddleware", True),
    # Last: turns a locked-out sign-in into the sign-in page saying so.
    ("axes.middleware.AxesMiddleware", False),
]
MIDDLEWARE = [path for path, _ in _MIDDLEWARE]
API_MIDDLEWARE = [path for path, api in _MIDDLEWARE if api]

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

DATABASES = {"default": _DATABASE}
# Also the REST API's threads: each of its requests holds one connection to its end.
DATABASE_POOL_MAX = env.int("DATABASE_POOL_MAX", default=20)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # psycopg 3's pool; a pooled connection must not be persistent as well.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN", default=2),
        "max_size": DATABASE_POOL_MAX,
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
    }
    # Parameters travel apart from the SQL, so psycopg prepares a statement once a
    # pooled connection has run it prepare_threshold (5) times.
    DATABASES["default"]["OPTIONS"]["server_side_binding"] = env.bool(
        "DATABASE_SERVER_SIDE_BINDING", default=True
    )
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

# --- Market data WebSockets (/live, /newsfeed) ---------------------------------------------
# The upstream's WebSocket base (production: wss://realtime.insightsentry.com); empty:
# UPSTREAM_MARKET_URL with ws:// or wss:// (the sandbox serves both on one port).
MARKET_WS_URL = env.str("MARKET_WS_URL", default="")
# member: each member connection goes upstream with the member's own upstream key.
# pooled: one upstream subscription per distinct stream, on MARKET_WS_POOL_KEY.
MARKET_WS_MODE = env.str("MARKET_WS_MODE", default="member")
MARKET_WS_POOL_KEY = env.str("MARKET_WS_POOL_KEY", default=UPSTREAM_ORG_KEY)
# Subscriptions one pooled upstream connection carries (the pool key's own limit).
MARKET_WS_POOL_SUBSCRIPTIONS = env.int("MARKET_WS_POOL_SUBSCRIPTIONS", default=100)
MARKET_WS_POOL_CONNECTIONS = env.int("MARKET_WS_POOL_CONNECTIONS", default=10)
# A pooled stream nobody wants any more is kept this long before it is torn down.
MARKET_WS_POOL_GRACE_SECONDS = env.float("MARKET_WS_POOL_GRACE_SECONDS", default=30.0)
# A dead process's connection slots come back within this many seconds.
MARKET_WS_LEASE_SECONDS = env.float("MARKET_WS_LEASE_SECONDS", default=15.0)
MARKET_WS_FIRST_MESSAGE_SECONDS = env.float(
    "MARKET_WS_FIRST_MESSAGE_SECONDS", default=10.0
)
MARKET_WS_HEARTBEAT_SECONDS = env.float("MARKET_WS_HEARTBEAT_SECONDS", default=10.0)
# An upstream connection silent this long (no data, no heartbeat) is reopened.
MARKET_WS_STALE_SECONDS = env.float("MARKET_WS_STALE_SECONDS", default=30.0)
MARKET_WS_BACKOFF_BASE = env.float("MARKET_WS_BACKOFF_BASE", default=1.0)
MARKET_WS_BACKOFF_CAP = env.float("MARKET_WS_BACKOFF_CAP", default=60.0)

# --- Upstream: Aries (brokerage accounts) ------------------------------------------------
# The OAuth2 token endpoint (POST /oauth2/token) lives here; production: https://api.aries.com
UPSTREAM_ARIES_URL = env.str(
    "UPSTREAM_ARIES_URL", default=f"http://127.0.0.1:{SANDBOX_PORT}"
).rstrip("/")
# The accounts WebSocket; default: UPSTREAM_ARIES_URL as ws:// (wss:// for https://).
_aries_scheme, _, _aries_rest = UPSTREAM_ARIES_URL.partition("://")
UPSTREAM_ARIES_WS_URL = env.str(
    "UPSTREAM_ARIES_WS_URL",
    default=f"{'wss' if _aries_scheme == 'https' else 'ws'}://{_aries_rest}"
    "/v1/accounts/ws",
)
# A link's token_status is "expiring" this many seconds or less before its access
# token expires.
BROKERAGE_EXPIRING_SECONDS = env.int("BROKERAGE_EXPIRING_SECONDS", default=600)
# The refresher trades a link's refresh token this many seconds before the access token
# expires; longer than the expiring window, so a healthy link is never seen expiring.
BROKERAGE_REFRESH_LEAD_SECONDS = env.int("BROKERAGE_REFRESH_LEAD_SECONDS", default=900)

# --- Account stream gateway (/v1/accounts/ws, accountstream/) ----------------------------
# As Aries: authenticate within this many seconds of connecting, or authTimeout.
ACCOUNTS_WS_AUTH_SECONDS = env.float("ACCOUNTS_WS_AUTH_SECONDS", default=5.0)
# The gateway's own session per authentication (Aries: 65 minutes), its refreshAuth
# warning this long before the end.
ACCOUNTS_WS_SESSION_SECONDS = env.float("ACCOUNTS_WS_SESSION_SECONDS", default=3900.0)
ACCOUNTS_WS_REFRESH_WARNING_SECONDS = env.float(
    "ACCOUNTS_WS_REFRESH_WARNING_SECONDS", default=300.0
)
# A member's upstream session stays this long after their last client leaves.
ACCOUNTS_WS_UPSTREAM_GRACE_SECONDS = env.float(
    "ACCOUNTS_WS_UPSTREAM_GRACE_SECONDS", default=30.0
)
ACCOUNTS_WS_BACKOFF_BASE = env.float("ACCOUNTS_WS_BACKOFF_BASE", default=1.0)
ACCOUNTS_WS_BACKOFF_CAP = env.float("ACCOUNTS_WS_BACKOFF_CAP", default=60.0)

# --- Secrets at rest and keys ------------------------------------------------------------
# Fernet keys, newest first: the first encrypts, every one decrypts (rotation). Read and
# validated with SECRET_KEY above.
FIELD_ENCRYPTION_KEYS = _SECRETS.field_encryption_keys
GATEWAY_KEY_SIGNING_SECRET = _SECRETS.gateway_key_signing_secret

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
# Webhook endpoints on loopback and private addresses (a receiver on this machine or the
# local network), for development only. Unspecified, link-local and cloud metadata
# addresses and URLs with a user name or password stay refused whatever this says. The
# embedded default turns it on, and the outbound app logs a warning whenever it is on.
WEBHOOK_ALLOW_PRIVATE_TARGETS = env.bool(
    "WEBHOOK_ALLOW_PRIVATE_TARGETS", default=config.embedded_default()
)
ORG_MEMBER_EMAIL_DOMAIN = env.str("ORG_MEMBER_EMAIL_DOMAIN", default="company.com")
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
# How long a request's claim on its Idempotency-Key holds before a retry may take it over,
# if the request has neither bound it to an operation nor finished (its process died).
IDEMPOTENCY_LEASE_SECONDS = env.int("IDEMPOTENCY_LEASE_SECONDS", default=30)

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


_QUOTA_RESET_AT = env.time_of_day("QUOTA_RESET_AT", default="00:01")
_USAGE_ROLLUP_AT = env.time_of_day("USAGE_ROLLUP_AT", default="00:10")
# Every interval is configurable; the scheduled work itself is safe to run twice.
# (entry, task, schedule): seconds between runs, or a crontab.
CELERY_BEAT_SCHEDULE = {
    name: {"task": f"{app}.tasks.{task}", "schedule": schedule}
    for name, app, task, schedule in (
        ("resolve-pending-operations", "members", "operations_resolve_pending",
         env.float("OPERATION_RESOLVE_INTERVAL", default=60.0)),
        # Reminders, auto-renewals, expiries and the low-balance forecast.
        ("renewals", "members", "renewals_run",
         env.float("RENEWALS_INTERVAL", default=300.0)),
        ("deliver-notifications", "members", "deliveries_retry_due",
         env.float("DELIVERY_RETRY_INTERVAL", default=30.0)),
        ("quota-exceeded-notify", "members", "quota_exceeded_notify",
         env.float("QUOTA_NOTIFY_INTERVAL", default=300.0)),
        ("monthly-quota-reset", "members", "quota_reset",
         crontab(minute=_QUOTA_RESET_AT[1], hour=_QUOTA_RESET_AT[0], day_of_month=1)),
        ("daily-usage-rollup", "members", "usage_rollup",
         crontab(minute=_USAGE_ROLLUP_AT[1], hour=_USAGE_ROLLUP_AT[0])),
        ("reconcile-with-upstream", "members", "reconcile",
         env.float("RECONCILE_INTERVAL", default=3600.0)),
        ("clean-idempotency-keys", "members", "idempotency_keys_clean", 3600.0),
        # Links due within BROKERAGE_REFRESH_LEAD_SECONDS get a new token pair.
        ("brokerage-refresh", "brokerage", "brokerage_refresh_due",
         env.float("BROKERAGE_REFRESH_INTERVAL", default=60.0)),
    )
}  # fmt: skip

# --- REST API ----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["members.auth.ServiceTokenAuthentication"],
    # A service token with the scope members.scopes names for the route and method.
    "DEFAULT_PERMISSION_CLASSES": ["members.auth.ServiceTokenScopes"],
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
        f"notifications.payloads.WEBHOOK_{name}"
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

# --- Metrics ----------------------------------------------------------------------------
# /metrics answers a request that passes every check configured here: the bearer token,
# and a client address (see TRUSTED_PROXIES) in the allow-list. With neither configured
# it answers 403 to everyone, except that the embedded default allows loopback.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.networks(
    "METRICS_ALLOWED_IPS",
    default=config.LOOPBACK if config.embedded_default() else [],
)

# --- Logging: one JSON object per line ----------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = logging_config(LOG_LEVEL)

# --- Portal ---------------------------------------------------------------------------
# The staff web portal (portal/). Sign-in at /login/; roles are the groups
# owner > admin > viewer (a superuser counts as owner).
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Secure cookies need HTTPS; the embedded default serves plain HTTP on loopback.
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=_DEPLOYED)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=_DEPLOYED)
# HTTPS (`manage.py check --deploy` is clean with the defaults of a deployment). Behind
# a proxy that terminates TLS set SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_DEPLOYED)
# Probes and scrapers inside the network speak plain HTTP; a redirect would fail them.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
if env.str("SECURE_PROXY_SSL_HEADER", default=""):
    _header, _, _value = env.str("SECURE_PROXY_SSL_HEADER").partition(",")
    SECURE_PROXY_SSL_HEADER = (_header.strip(), _value.strip() or "https")
SECURE_HSTS_SECONDS = env.int(
    "SECURE_HSTS_SECONDS", default=365 * 86400 if _DEPLOYED else 0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", default=_DEPLOYED
)
# Preloading puts the whole domain into browsers' built-in HTTPS-only lists, which is
# the domain owner's decision: opt in with SECURE_HSTS_PRELOAD=true; until then the
# check's reminder about it is silenced.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)  # seconds
X_FRAME_OPTIONS = "DENY"
# Lockout (django-axes): PORTAL_LOCKOUT_FAILURES failed sign-ins for one username, or
# from one client address, each within PORTAL_LOCKOUT_MINUTES of the one before, lock
# that username or address until PORTAL_LOCKOUT_MINUTES after the last of them. Every
# authenticate() goes through it: the portal's sign-in and Django admin's.
PORTAL_LOCKOUT_FAILURES = env.int("PORTAL_LOCKOUT_FAILURES", default=5)
PORTAL_LOCKOUT_MINUTES = env.int("PORTAL_LOCKOUT_MINUTES", default=15)
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = PORTAL_LOCKOUT_FAILURES
AXES_COOLOFF_TIME = dt.timedelta(minutes=PORTAL_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# Attempts while locked are refused unchecked and not counted, so a lock ends on time.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "portal.views.auth.lockout_username"
AXES_CLIENT_IP_CALLABLE = "orgportal.clientip.client_ip"
AXES_LOCKOUT_CALLABLE = "portal.views.auth.locked_out"
# Failed attempts expire with the cool-off (each new failure or sign-in deletes the
# expired ones); successful sign-ins are not logged, so nothing grows without bound.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False
# Reverse proxies (addresses or CIDR networks) whose X-Forwarded-For is believed: the
# client address of a request from one of them is the nearest untrusted address the
# header names. Empty: REMOTE_ADDR is the client and forwarded headers are ignored.
TRUSTED_PROXIES = env.networks("TRUSTED_PROXIES", default=[])
TEMPLATES[0]["OPTIONS"]["context_processors"].append(
    "portal.views.common.portal_context"
)
