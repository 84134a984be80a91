"""Django settings. Everything a deployment changes comes from the environment.

- DUPLISTATUS_DATA_DIR (default ./data): SQLite file, secret key file, later the encryption key.
- DATABASE_URL (default: SQLite in the data dir): e.g. postgres://user@host/db.
- PORT (default 9666), TZ (default UTC): read by the CLI and the scheduler.
- DUPLISTATUS_MAX_UPLOAD_BYTES (default 50 MiB): larger uploads get 413.
- DUPLISTATUS_BASE_URL: the address users reach the service at; its origin is trusted for
  CSRF (an https page behind a proxy posts with an https Origin).
- DUPLISTATUS_TRUSTED_PROXIES: addresses/networks of reverse proxies whose X-Forwarded-For
  and X-Forwarded-Proto are believed (duplistatus/proxies.py); from others they are dropped.
- DUPLISTATUS_LANGUAGE (default en): the pages' language when neither the user's own
  setting, the sign-in page's picker nor the browser names one we have (duplistatus/i18n.py).
"""

import ipaddress
import os
import secrets
import sys
import urllib.parse
from pathlib import Path

import dj_database_url

from duplistatus import clock
from duplistatus.datadir import secure_data_dir
from duplistatus.i18n import LOCALE_DIR, language_from_env
from duplistatus.proxies import parse_networks

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("DUPLISTATUS_DATA_DIR", "data")).resolve()
secure_data_dir(DATA_DIR)  # 0700: the database and the keys live here


def _read_or_create_secret(path: Path) -> str:
    """The key is made once, on first start, readable by the owner only."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(50)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key)
        return key


SECRET_KEY = os.environ.get("DUPLISTATUS_SECRET_KEY") or _read_or_create_secret(
    DATA_DIR / "secret_key"
)
DEBUG = os.environ.get("DUPLISTATUS_DEBUG") == "1"
ALLOWED_HOSTS = os.environ.get("DUPLISTATUS_ALLOWED_HOSTS", "*").split(",")

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "duplistatus.web.apps.StaticFilesConfig",
    "duplistatus.backups",
    "duplistatus.accounts",
    "duplistatus.web",
    "ninja",  # serves /api/docs' Swagger UI from our own static files (CSP: 'self' only)
    "duplistatus.notifications",
]

MIDDLEWARE = [
    # First: everything after it (HTTPS, CSRF, the lockout, the audit log) must see the
    # client's address and scheme, not the reverse proxy's.
    "duplistatus.proxies.TrustedProxyMiddleware",
    # Then, so every page and endpoint that answers GET answers HEAD the same way (head.py).
    "duplistatus.head.head_as_get",
    # Pages are repetitive HTML (a 1,000-job dashboard shrinks ~10x). Django's gzip adds
    # random padding against BREACH, and CSRF tokens are masked per response.
    "django.middleware.gzip.GZipMiddleware",
    # Errors under /api/ are JSON even when Django or django-ninja make them (404, 405).
    "duplistatus.api.errors.JsonErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files: WhiteNoise rather than granian's static route, because it works the same
    # under `serve`, the tests' live server and `manage`, serves the brotli/gzip copies made
    # once by collectstatic, and marks the content-hashed names immutable, so a browser
    # fetches each asset once per version. There are few assets; Python serving them costs
    # little next to that.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the sign-in page's picker (a cookie), else the browser's Accept-Language,
    # else LANGUAGE_CODE. After sessions, before anything that answers in words.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # ...but a signed-in user's own choice (the account page) comes first.
    "duplistatus.accounts.language.user_language",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
]
# POST /api/upload, which Duplicati calls after every backup, runs through these only
# (duplistatus.wsgi): it has no session, cookie, CSRF token, page or static file, and the
# rest cost more than storing the report's rows (bench/ingest.py).
UPLOAD_MIDDLEWARE = [
    "duplistatus.proxies.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
]

ROOT_URLCONF = "duplistatus.urls"
WSGI_APPLICATION = "duplistatus.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "duplistatus.web.context.ui",
            ]
        },
    }
]

_sqlite_url = "sqlite:///" + str(DATA_DIR / "duplistatus.sqlite3")
DATABASES = {"default": dj_database_url.parse(os.environ.get("DATABASE_URL") or _sqlite_url)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's backend, converting each statement's placeholders once (sqlite_backend).
    DATABASES["default"]["ENGINE"] = "duplistatus.sqlite_backend"
    if not os.environ.get("DATABASE_URL"):  # ours, in the data dir: 0600, with -wal, -shm
        secure_data_dir(DATA_DIR, DATA_DIR / "duplistatus.sqlite3")
    # WAL lets readers run beside the one writer; IMMEDIATE transactions take the write
    # lock up front, so two writers queue on the busy timeout instead of failing with
    # "database is locked" when a read lock cannot be upgraded.
    _init = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
    if os.environ.get("DUPLISTATUS_INPROCESS_WORKER") == "1":
        # The worker thread checkpoints the WAL after its passes (worker.run_forever), off the
        # request path: a checkpoint in the commit that crosses SQLite's 1,000-page mark made
        # one upload in ~50 take twice as long (bench/ingest.py p99). The high mark stays as a
        # bound should the worker fall behind.
        _init += " PRAGMA wal_autocheckpoint=20000;"
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": _init,
    }
    # Tests run on a real SQLite file too, not Django's default in-memory database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
    # Keep connections open: closing the last connection to a WAL database checkpoints and
    # deletes the WAL, which made every request pay a checkpoint (bench/ingest.py).
    DATABASES["default"]["CONN_MAX_AGE"] = None
else:
    DATABASES["default"]["CONN_MAX_AGE"] = 600
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Each language is named in itself: whoever cannot read the page can still find theirs.
LANGUAGES = [
    ("en", "English"),
    ("de", "Deutsch"),
    ("fr", "Français"),
    ("es", "Español"),
    ("pt-br", "Português (Brasil)"),
    ("zh-hans", "简体中文"),
    ("hi", "हिन्दी"),
]
LANGUAGE_CODE, _language_problem = language_from_env(
    os.environ.get("DUPLISTATUS_LANGUAGE"), LANGUAGES
)
if _language_problem:
    # Logging is not set up yet; a wrong language must not stop the service, but must show.
    print(f"duplistatus: {_language_problem}", file=sys.stderr)
LOCALE_PATHS = [LOCALE_DIR]
# The picker's choice outlives the browser session (the default): it is kept for a year.
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
TIME_ZONE = "UTC"  # stored and computed in UTC; TZ (see duplistatus.clock) is for schedules
# Django replaces os.environ["TZ"] with TIME_ZONE once it has read this module: keep TZ first.
clock.keep_deployment_zone()
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Filled by `duplistatus setup` (run by `serve`): our files and the front-end libraries npm
# installed (duplistatus.web.assets), content-hashed and pre-compressed (brotli, gzip).
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "duplistatus.web.assets.StaticStorage"},
}
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "duplistatus.web.assets.NodeModulesFinder",
]
WHITENOISE_MAX_AGE = 3600  # for unhashed names; hashed ones are cached for good

# Web pages: sessions, roles (accounts.roles), a password policy, login lockout, audit log.
LOGIN_URL = "/login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login"
SESSION_COOKIE_AGE = 14 * 24 * 3600
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = LANGUAGE_COOKIE_SECURE = (
    os.environ.get("DUPLISTATUS_SECURE_COOKIES") == "1"
)
CSRF_COOKIE_HTTPONLY = True  # htmx sends the token from the page, never from the cookie
# Behind a reverse proxy: the public address's origin is trusted for CSRF, and the proxies'
# X-Forwarded-* headers are believed (proxies.TrustedProxyMiddleware drops them from others).
_public = urllib.parse.urlsplit(os.environ.get("DUPLISTATUS_BASE_URL", ""))
CSRF_TRUSTED_ORIGINS = [f"{_public.scheme}://{_public.netloc}"] if _public.netloc else []
TRUSTED_PROXIES = parse_networks(os.environ.get("DUPLISTATUS_TRUSTED_PROXIES", ""))
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# No inline script or style anywhere: everything comes from our own static files.
SECURE_CSP = {
    "default-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
}
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": int(os.environ.get("DUPLISTATUS_PASSWORD_MIN_LENGTH", "10"))},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_MAX_FAILURES = int(os.environ.get("DUPLISTATUS_LOGIN_MAX_FAILURES", "5"))
LOGIN_LOCKOUT_MINUTES = int(os.environ.get("DUPLISTATUS_LOGIN_LOCKOUT_MINUTES", "15"))
AUDIT_RETENTION_DAYS = int(os.environ.get("DUPLISTATUS_AUDIT_RETENTION_DAYS", "365"))
# No worker completing a pass for this long shows a banner on every page and makes
# /api/health degraded (duplistatus/worker_health.py).
WORKER_STOPPED_AFTER_MINUTES = float(
    os.environ.get("DUPLISTATUS_WORKER_STOPPED_AFTER_MINUTES", "5")
)

MAX_UPLOAD_BYTES = int(os.environ.get("DUPLISTATUS_MAX_UPLOAD_BYTES", 50 * 1024 * 1024))
# How long `serve` waits for a request's body before answering 408 (duplistatus.edge).
BODY_TIMEOUT_SECONDS = float(os.environ.get("DUPLISTATUS_BODY_TIMEOUT_SECONDS", "60"))
# Django's own cap on in-memory request bodies must not reject an upload before we do.
DATA_UPLOAD_MAX_MEMORY_SIZE = None
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000
# Bodies that fail to parse are kept for a better parser, but anyone may send them: keep
# each one's first bytes (with its full size and hash), all of them within a quota, for a
# while. Reports that parsed are kept whole and for good.
UNPARSED_KEEP_BYTES = int(os.environ.get("DUPLISTATUS_UNPARSED_KEEP_BYTES", 1024 * 1024))
UNPARSED_QUOTA_BYTES = int(os.environ.get("DUPLISTATUS_UNPARSED_QUOTA_BYTES", 100 * 1024 * 1024))
UNPARSED_RETENTION_DAYS = int(os.environ.get("DUPLISTATUS_UNPARSED_RETENTION_DAYS", "30"))

# Whether /api/summary, /api/lastbackup(s) and /api/health need a token. Open by default,
# as in the original, because dashboards such as Homepage call them without one.
PUBLIC_READ_API = os.environ.get("DUPLISTATUS_PUBLIC_READ_API", "1") != "0"

# The application log: the console, and a rotating file in the data dir (Settings → Log).
# Secrets are redacted before any handler sees a line (duplistatus.applog).
LOG_MAX_BYTES = int(os.environ.get("DUPLISTATUS_LOG_MAX_BYTES", 5 * 1024 * 1024))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "duplistatus.applog.RedactSecrets"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact"],
        },
        "file": {
            "class": "logging.handlers.RotatingFileHandler",
            "filename": str(DATA_DIR / "duplistatus.log"),
            "maxBytes": LOG_MAX_BYTES,
            "backupCount": 3,
            "encoding": "utf-8",
            "delay": True,
            "formatter": "plain",
            "filters": ["redact"],
        },
    },
    "root": {
        "handlers": ["console", "file"],
        "level": os.environ.get("DUPLISTATUS_LOG_LEVEL", "INFO"),
    },
    # httpx logs every request at INFO: a collection from Duplicati reads hundreds of pages.
    "loggers": {"django.request": {"level": "ERROR"}, "httpx": {"level": "WARNING"}},
}

# GET /metrics (Prometheus): on, for API tokens and the addresses (or networks) listed here.
METRICS_ENABLED = os.environ.get("DUPLISTATUS_METRICS", "1") != "0"
METRICS_ALLOW = [
    ipaddress.ip_network(entry.strip(), strict=False)
    for entry in os.environ.get("DUPLISTATUS_METRICS_ALLOW", "").split(",")
    if entry.strip()
]
