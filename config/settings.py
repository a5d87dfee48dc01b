"""Switchboard settings. Everything comes from environment variables (see README).

Embedded mode (default): SQLite under SWITCHBOARD_DATA_DIR, in-memory channel layer, cache and
Celery broker, worker and beat inside the server process. Production mode: DATABASE_URL
(PostgreSQL) and REDIS_URL (broker, channel layer, cache).
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_days, env_int, env_list, env_model_prices, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("SWITCHBOARD_DATA_DIR") or BASE_DIR / "var").resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

TESTING = (
    "pytest" in sys.modules
    or (len(sys.argv) > 1 and sys.argv[1] == "test")
    or env_bool("SWITCHBOARD_TESTING", False)
)
DATABASE_URL = env_str("DATABASE_URL")
REDIS_URL = env_str("REDIS_URL")
EMBEDDED = not REDIS_URL

# Off unless asked for, in the embedded mode too: DEBUG shows tracebacks and settings to any
# client that triggers an error. `DEBUG=true make run` for development.
DEBUG = env_bool("DEBUG", default=False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if DATABASE_URL and not DEBUG and not TESTING:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off.")
    # Embedded/dev: a random key kept in the data dir so sessions survive restarts.
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    SECRET_KEY = key_file.read_text().strip()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = env_str("SITE_URL").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "django_htmx",
    "template_partials",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.github",
    "apps.core",
    "apps.accounts",
    "apps.projects",
    "apps.agents",
    "apps.realtime",
    "apps.linear",
    "apps.alerts",
    "apps.benches",
    "apps.telemetry",
    "apps.otlp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "apps.core.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "apps.core.middleware.ApiBodyLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.accounts.middleware.TrustedProxyMiddleware",
    "apps.accounts.middleware.LastSeenMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.projects.middleware.CurrentProjectMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "apps.core.context_processors.navigation",
                "apps.accounts.context_processors.sign_in",
                "apps.alerts.context_processors.alerts_badge",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]

# --- Database ---------------------------------------------------------------
if DATABASE_URL:
    try:
        DATABASES = {
            "default": dj_database_url.parse(
                DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True
            )
        }
    except Exception as exc:  # dj_database_url raises several kinds
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
    if not DATABASES["default"]["ENGINE"].endswith(("postgresql", "sqlite3")):
        raise ImproperlyConfigured("DATABASE_URL must be a postgres:// (or sqlite://) URL.")
    if not DATABASES["default"].get("NAME"):
        raise ImproperlyConfigured("DATABASE_URL names no database, e.g. postgres://u:p@host:5432/switchboard")
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        DATABASES["default"].setdefault("OPTIONS", {})
    else:  # the stock backend plus a health check without a round trip
        DATABASES["default"]["ENGINE"] = "apps.core.db.postgresql"
        if not env_bool("DB_PREPARED_STATEMENTS", True):
            # Behind a pooler that cannot keep prepared statements (PgBouncer before 1.21, or
            # without max_prepared_statements in transaction mode).
            DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = None
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "switchboard.sqlite3",
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The stock backend plus an in-process queue of writers for `serve` (no busy-wait sleeps).
    DATABASES["default"]["ENGINE"] = "apps.core.db.sqlite3"
    DATABASES["default"]["OPTIONS"] = {
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Each serving thread keeps its connection: opening one (and its PRAGMAs) per request was
    # a tenth of a hook call's time in `make run`.
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 600)
    # A file (not in-memory) test database, so a live server process can share it.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- Redis / cache / channels / celery ---------------------------------------
if REDIS_URL:
    if urlparse(REDIS_URL).scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured("REDIS_URL must start with redis://, rediss:// or unix://")
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "sb"),
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env_str("CHANNEL_PREFIX", "sb")},
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    if REDIS_URL.startswith("redis://"):
        # kombu's Redis transport, made to fail a closed channel as a lost connection
        # (apps/core/redis_broker.py), so a worker always recovers from a Redis restart.
        CELERY_BROKER_TRANSPORT = "apps.core.redis_broker:Transport"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    # Embedded: a queue folder in the data dir (apps/core/embedded_broker.py: kombu's
    # filesystem transport with atomic writes). kombu's memory:// transport was seen to take
    # messages off the queue without handing them to the worker once several threads publish,
    # which stalled the embedded worker for good.
    CELERY_BROKER_URL = "sbfs://"
    # Tests get their own queue folder, so a developer's queued tasks never run on test data.
    _broker_dir = DATA_DIR / ("broker-test" if TESTING else "broker")
    (_broker_dir / "queue").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "control").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }

CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Keep a worker thread's database connection across tasks: Celery otherwise reconnects around
# every task, which cost more than the alerts engine's evaluation itself (benchmarks/alerts.py).
CELERY_DB_REUSE_MAX = 1000
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "switchboard")
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# Rebuilds its broker connection after a failed send (apps/core/beat.py).
CELERY_BEAT_SCHEDULER = "apps.core.beat:Scheduler"
# Each app adds its periodic tasks in its AppConfig.ready() via apps.core.schedule.
CELERY_BEAT_SCHEDULE: dict = {}

# --- Auth ---------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    # Refuses every password check when PASSWORD_LOGIN_ENABLED is off (allauth and admin forms).
    "apps.accounts.backends.PasswordLoginSwitch",
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
PASSWORD_LOGIN_ENABLED = env_bool("PASSWORD_LOGIN_ENABLED", True)

ACCOUNT_ADAPTER = "apps.accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "apps.accounts.adapters.SocialAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = True
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_QUERY_EMAIL = False
SOCIALACCOUNT_STORE_TOKENS = False
GITHUB_CLIENT_ID = env_str("GITHUB_CLIENT_ID")
GITHUB_CLIENT_SECRET = env_str("GITHUB_CLIENT_SECRET")
GITHUB_URL = env_str("GITHUB_URL").rstrip("/")
GITHUB_API_URL = env_str("GITHUB_API_URL").rstrip("/")
_github: dict = {"SCOPE": ["read:user"]}
if GITHUB_CLIENT_ID:
    _github["APPS"] = [{"client_id": GITHUB_CLIENT_ID, "secret": GITHUB_CLIENT_SECRET, "key": ""}]
if GITHUB_URL:
    _github["GITHUB_URL"] = GITHUB_URL
if GITHUB_API_URL:
    _github["GITHUB_API_URL"] = GITHUB_API_URL
SOCIALACCOUNT_PROVIDERS = {"github": _github}
GITHUB_LOGIN_ENABLED = bool(GITHUB_CLIENT_ID)

TRUSTED_PROXY_USER_HEADER = env_str("TRUSTED_PROXY_USER_HEADER")
TRUSTED_PROXY_IPS = env_list("TRUSTED_PROXY_IPS")
INVITE_TTL_DAYS = env_int("INVITE_TTL_DAYS", 7, minimum=1)
# How long a web process trusts an API key it verified (a revoked key stops working in
# other processes within this many seconds; 0 checks the database on every request).
API_KEY_CACHE_SECONDS = env_int("API_KEY_CACHE_SECONDS", 5, minimum=0)

if TESTING:
    # Test teams are created per test; the production hasher's cost would dominate the suite.
    PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# --- API ----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.projects.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["apps.core.api.permissions.IsProjectMember"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "apps.core.api.throttles.WriteKeyThrottle",
        "apps.core.api.throttles.WriteIpThrottle",
    ],
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.pagination.IdCursorPagination",
    "DEFAULT_THROTTLE_RATES": {
        "write_key": env_str("RATE_LIMIT_KEY", "6000/min"),
        "write_ip": env_str("RATE_LIMIT_IP", "12000/min"),
    },
    "DEFAULT_RENDERER_CLASSES": ["apps.core.api.renderers.SafeJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["apps.core.api.parsers.StrictJSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "NUM_PROXIES": env_int("NUM_PROXIES", 0, minimum=0),
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append(
        "rest_framework.renderers.BrowsableAPIRenderer"
    )
SPECTACULAR_SETTINGS = {
    "TITLE": "Switchboard API",
    "DESCRIPTION": "Agents report here with a project API key: `Authorization: Bearer sbk_...`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.core.api.schema.document_errors",
    ],
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024  # request bodies over 1 MB get 413
# OTLP/HTTP intake (apps/otlp): the largest body accepted, compressed or once decompressed.
OTLP_MAX_BODY_BYTES = env_int("OTLP_MAX_BODY_BYTES", 8 * 1024 * 1024, minimum=64 * 1024)
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CORS_URLS_REGEX = r"^/api/.*$"

# --- HTTP security -----------------------------------------------------------
# HTTPS-only (secure cookies, HSTS, redirect) is the production default; the embedded mode
# serves plain HTTP on this machine.
SECURE_HTTPS = env_bool("SECURE_HTTPS", default=bool(DATABASE_URL) and not DEBUG and not TESTING)
SESSION_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SECURE = SECURE_HTTPS
SECURE_SSL_REDIRECT = SECURE_HTTPS and env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if SECURE_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HTTPS
SECURE_HSTS_PRELOAD = SECURE_HTTPS and env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Probes and scrapers reach the web process over plain HTTP inside the network; a redirect
# would not protect /metrics' token anyway, its first request has already carried it.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"

# --- Static, i18n, email, logging --------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns on every start when it is missing
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

EMAIL_URL = env_str("EMAIL_URL")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "switchboard@localhost")
if EMAIL_URL:
    _email = urlparse(EMAIL_URL)
    if _email.scheme not in {"smtp", "smtps", "submission"}:
        raise ImproperlyConfigured("EMAIL_URL must be smtp://user:pass@host:port")
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = _email.hostname or "localhost"
    EMAIL_PORT = _email.port or (465 if _email.scheme == "smtps" else 587)
    EMAIL_HOST_USER = _email.username or ""
    EMAIL_HOST_PASSWORD = _email.password or ""
    EMAIL_USE_SSL = _email.scheme == "smtps"
    EMAIL_USE_TLS = _email.scheme == "submission"
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"redact": {"()": "apps.core.logfilters.RedactSecrets"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain",
                             "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "celery": {"level": "WARNING"},
        "kombu": {"level": "ERROR"},
        "httpx": {"level": "WARNING"},  # one INFO line per request: a bench run makes thousands
    },
}

# --- linear ---
# Linear connection: env values win over what an owner stores on the settings page.
LINEAR_API_KEY = env_str("LINEAR_API_KEY")
LINEAR_WEBHOOK_SECRET = env_str("LINEAR_WEBHOOK_SECRET")
# How often beat looks for stored webhook deliveries never applied (their task was lost), and
# how old such a delivery must be before the sweep takes it.
LINEAR_SWEEP_SECONDS = env_int("LINEAR_SWEEP_SECONDS", 60, minimum=5)
LINEAR_API_URL = env_str("LINEAR_API_URL", "https://api.linear.app/graphql")
LINEAR_SYNC_INTERVAL_SECONDS = env_int("LINEAR_SYNC_INTERVAL_SECONDS", 300, minimum=10)
# Switchboard as a Linear agent (an OAuth app installed with actor=app): the app's client
# credentials from Linear's Settings → API → OAuth applications. Without them the personal-key
# mode above is all there is.
LINEAR_OAUTH_CLIENT_ID = env_str("LINEAR_OAUTH_CLIENT_ID")
LINEAR_OAUTH_CLIENT_SECRET = env_str("LINEAR_OAUTH_CLIENT_SECRET")
LINEAR_OAUTH_AUTHORIZE_URL = env_str("LINEAR_OAUTH_AUTHORIZE_URL", "https://linear.app/oauth/authorize")
LINEAR_OAUTH_TOKEN_URL = env_str("LINEAR_OAUTH_TOKEN_URL", "https://api.linear.app/oauth/token")
# Tool calls are mirrored into a Linear agent session as one summary per this many seconds at
# most (Linear shows every activity; one per tool call would bury the thread).
LINEAR_AGENT_ACTION_INTERVAL_SECONDS = env_int("LINEAR_AGENT_ACTION_INTERVAL_SECONDS", 20, minimum=1)
# Secrets stored in the database (API key, webhook secret) are Fernet-encrypted with a key
# derived from SECRET_KEY; rotating SECRET_KEY means entering the Linear key again.
import base64 as _base64  # noqa: E402
import hashlib as _hashlib  # noqa: E402

LINEAR_ENCRYPTION_KEY = _base64.urlsafe_b64encode(
    _hashlib.sha256(f"switchboard.linear:{SECRET_KEY}".encode()).digest()
)

# --- projects (API keys, rate limits, CORS) ---
from apps.core.api.rates import parse_rate as _parse_rate  # noqa: E402

for _scope, _variable in (("write_key", "RATE_LIMIT_KEY"), ("write_ip", "RATE_LIMIT_IP")):
    try:
        _parse_rate(REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][_scope])
    except ValueError as _exc:
        raise ImproperlyConfigured(f"{_variable}: {_exc}") from None
for _origin in CORS_ALLOWED_ORIGINS:
    _parsed = urlparse(_origin)
    if _parsed.scheme not in {"http", "https"} or not _parsed.netloc or _parsed.path not in {"", "/"}:
        raise ImproperlyConfigured(
            f"CORS_ALLOWED_ORIGINS: {_origin!r} is not an origin; use scheme://host[:port], "
            "e.g. https://dashboard.example.com"
        )
# `make run` / `manage.py serve` listen here; checked now so junk fails before anything starts.
PORT = env_int("PORT", 8000, minimum=1)
if PORT > 65535:
    raise ImproperlyConfigured(f"PORT={PORT} is not a TCP port (1-65535).")
# HSTS preload commits the whole domain and its subdomains to HTTPS in browsers for months; a
# self-hosted install must opt in (SECURE_HSTS_PRELOAD=true), so the deploy check's nudge is quiet.
SILENCED_SYSTEM_CHECKS = [*globals().get("SILENCED_SYSTEM_CHECKS", []), "security.W021"]

# --- monitoring ---
# The bearer token Prometheus sends for GET /metrics; unset, /metrics answers 404.
METRICS_TOKEN = env_str("METRICS_TOKEN")

# --- alerts ---
ALERTS_ENABLED = env_bool("ALERTS_ENABLED", True)
# Webhook/Slack/push targets on private, loopback or link-local addresses (apps.alerts.targets).
ALERTS_ALLOW_PRIVATE_TARGETS = env_bool("ALERTS_ALLOW_PRIVATE_TARGETS", False)
# Per agent, across all rules; more is held back as "throttled" and summarised later.
ALERTS_MAX_PER_AGENT_PER_HOUR = env_int("ALERTS_MAX_PER_AGENT_PER_HOUR", 3, minimum=1)
# The budget is counted per severity, so chatty info alerts never use up critical's:
# 0 = unthrottled, -1 (the default for info and warning) = ALERTS_MAX_PER_AGENT_PER_HOUR.
# Critical is unthrottled unless set.
ALERTS_MAX_INFO_PER_AGENT_PER_HOUR = env_int("ALERTS_MAX_INFO_PER_AGENT_PER_HOUR", -1, minimum=-1)
ALERTS_MAX_WARNING_PER_AGENT_PER_HOUR = env_int(
    "ALERTS_MAX_WARNING_PER_AGENT_PER_HOUR", -1, minimum=-1)
ALERTS_MAX_CRITICAL_PER_AGENT_PER_HOUR = env_int("ALERTS_MAX_CRITICAL_PER_AGENT_PER_HOUR", 0, minimum=0)
# This many agents going offline within the window make one grouped alert, not one each.
ALERTS_GROUP_MIN_AGENTS = env_int("ALERTS_GROUP_MIN_AGENTS", 5, minimum=2)
ALERTS_GROUP_WINDOW_SECONDS = env_int("ALERTS_GROUP_WINDOW_SECONDS", 300, minimum=1)
try:  # seconds between delivery attempts; one more attempt than delays, then "failed"
    ALERTS_RETRY_DELAYS = [float(d) for d in env_list("ALERTS_RETRY_DELAYS", ["10", "60", "300", "1800"])]
except ValueError:
    raise ImproperlyConfigured("ALERTS_RETRY_DELAYS must be comma-separated seconds, e.g. 10,60,300") from None
ALERTS_DELIVERY_LEASE_SECONDS = env_int("ALERTS_DELIVERY_LEASE_SECONDS", 120, minimum=5)
ALERTS_SWEEP_SECONDS = env_int("ALERTS_SWEEP_SECONDS", 60, minimum=5)
# VAPID "sub" claim: how a push service reaches the operator (mailto: or https:).
ALERTS_VAPID_SUBJECT = env_str("ALERTS_VAPID_SUBJECT", f"mailto:{DEFAULT_FROM_EMAIL}")
if not ALERTS_VAPID_SUBJECT.startswith(("mailto:", "https:")):
    raise ImproperlyConfigured("ALERTS_VAPID_SUBJECT must start with mailto: or https:")
ALERTS_PUSH_TTL_SECONDS = env_int("ALERTS_PUSH_TTL_SECONDS", 86400, minimum=0)

# --- agents ---
# One named enum per choice set in the OpenAPI schema (several fields are called status/kind).
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    **SPECTACULAR_SETTINGS.get("ENUM_NAME_OVERRIDES", {}),
    "AgentKindEnum": "apps.agents.models.AgentKind",
    "AgentStatusEnum": "apps.agents.models.AgentStatus",
    "ReportableStatusEnum": "apps.agents.serializers.REPORTABLE_STATUSES",
    "TaskStatusEnum": "apps.agents.models.TaskStatus",
    "TaskFinishStatusEnum": "apps.agents.serializers.FINISH_STATUSES",
    "WorkflowStatusEnum": "apps.agents.models.WorkflowStatus",
    "StepKindEnum": "apps.agents.models.StepKind",
    "StepStatusEnum": "apps.agents.models.StepStatus",
    "EventResultStatusEnum": "apps.agents.serializers.RESULT_STATUSES",
    "SpanOutcomeEnum": "apps.agents.models.SpanOutcome",
    "ReportedOutcomeEnum": "apps.agents.serializers.REPORTED_OUTCOMES",
    "BenchRunStateEnum": "apps.benches.models.RunState",
}
# Only benchmarks/ingest.py turns this on: it exposes a bare one-INSERT view for comparison.
AGENTS_BENCHMARK_VIEWS = env_bool("AGENTS_BENCHMARK_VIEWS", False)

# --- telemetry ---
# Per-model prices in USD per million tokens (JSON), winning over the bundled price table:
# {"my-llama": {"input": 0.5, "output": 1.5, "cache_read": 0.05, "cache_write": 0.6}}.
# Prices set in the admin (telemetry → model prices) win over these.
SWITCHBOARD_MODEL_PRICES = env_model_prices("SWITCHBOARD_MODEL_PRICES")
# Rollups read events at least this many seconds old, so a transaction that committed late is
# never skipped; beat rolls up every TELEMETRY_ROLLUP_SECONDS.
TELEMETRY_ROLLUP_LAG_SECONDS = env_int("TELEMETRY_ROLLUP_LAG_SECONDS", 5, minimum=0)
TELEMETRY_ROLLUP_SECONDS = env_int("TELEMETRY_ROLLUP_SECONDS", 30, minimum=5)
# How often beat looks for scheduled reports (digests) whose period is complete and unsent.
TELEMETRY_REPORTS_SECONDS = env_int("TELEMETRY_REPORTS_SECONDS", 300, minimum=10)
# Retention: how many days raw rows and rollups are kept (0 or empty: forever). An owner's
# values on the System page win over these (telemetry.RetentionPolicy). Beat deletes what is
# older every RETENTION_RUN_SECONDS, in small chunks (apps/telemetry/retention.py).
RETENTION_EVENTS_DAYS = env_days("RETENTION_EVENTS_DAYS", 30)
RETENTION_SPANS_DAYS = env_days("RETENTION_SPANS_DAYS", 14)
RETENTION_SPAN_PAYLOADS_DAYS = env_days("RETENTION_SPAN_PAYLOADS_DAYS", 3)
RETENTION_USAGE_DAYS = env_days("RETENTION_USAGE_DAYS", 90)
RETENTION_NOTIFICATIONS_DAYS = env_days("RETENTION_NOTIFICATIONS_DAYS", 30)
RETENTION_WEBHOOKS_DAYS = env_days("RETENTION_WEBHOOKS_DAYS", 30)
RETENTION_SYNC_RUNS_DAYS = env_days("RETENTION_SYNC_RUNS_DAYS", 30)
RETENTION_BENCH_SAMPLES_DAYS = env_days("RETENTION_BENCH_SAMPLES_DAYS", 90)
RETENTION_ROLLUPS_5M_DAYS = env_days("RETENTION_ROLLUPS_5M_DAYS", 14)
RETENTION_ROLLUPS_1H_DAYS = env_days("RETENTION_ROLLUPS_1H_DAYS", 90)
RETENTION_ROLLUPS_1D_DAYS = env_days("RETENTION_ROLLUPS_1D_DAYS", 0)
RETENTION_RUN_SECONDS = env_int("RETENTION_RUN_SECONDS", 600, minimum=10)

# --- benches ---------------------------------------------------------------------------------
# How often beat starts nightly suites that are due, re-hands queued runs to a worker and fails
# runs whose worker died; and how long a scheduled run waits when its endpoint is busy.
BENCH_SCHEDULE_SECONDS = env_int("BENCH_SCHEDULE_SECONDS", 60, minimum=5)
BENCH_SCHEDULE_RETRY_SECONDS = env_int("BENCH_SCHEDULE_RETRY_SECONDS", 900, minimum=10)
# Endpoint liveness: beat probes every enabled endpoint this often (apps/benches/probe.py); a
# probe gives up after BENCH_PROBE_TIMEOUT_SECONDS. A success slower than BENCH_DEGRADED_MS
# marks it degraded, and BENCH_DOWN_AFTER failures in a row mark it down.
BENCH_PROBE_SECONDS = env_int("BENCH_PROBE_SECONDS", 60, minimum=5)
BENCH_PROBE_TIMEOUT_SECONDS = env_int("BENCH_PROBE_TIMEOUT_SECONDS", 10, minimum=1)
BENCH_DEGRADED_MS = env_int("BENCH_DEGRADED_MS", 2000, minimum=1)
BENCH_DOWN_AFTER = env_int("BENCH_DOWN_AFTER", 3, minimum=1)
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    **SPECTACULAR_SETTINGS.get("ENUM_NAME_OVERRIDES", {}),
    "EndpointKindEnum": "apps.benches.models.EndpointKind",
    "EndpointStateEnum": "apps.benches.models.EndpointState",
    "EndpointProbeEnum": "apps.benches.models.ProbeKind",
}
