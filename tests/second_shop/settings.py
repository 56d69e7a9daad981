"""Settings of the sports shop: only what a shop adds for shopsearch, beside the Django defaults. No `catalog`,
no `shopsite` app; the database is the embedded PostgreSQL + pgvector unless DATABASE_URL is set."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent  # the repository: .models/ (the ONNX query encoder) is shared
SECRET_KEY = "second-shop-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "drf_spectacular",
    "shopsearch",
    "tests.second_shop.sportshop",
]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "tests.second_shop.urls"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]

_name = os.environ.get("DATABASE_NAME") or "second_shop"
if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
    DATABASES["default"]["NAME"] = _name
else:
    from shopsite import embedded_db  # the test machine's database server, nothing of the demo shop

    DATABASES = {"default": dj_database_url.parse(embedded_db.database_url(_name))}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "shopsearch.api.errors.exception_handler",
}

CELERY_BROKER_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_DEFAULT_QUEUE = f"sportshop.{DATABASES['default']['NAME']}"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

SHOPSEARCH = {
    "PRODUCT_MODEL": "sportshop.Item",
    "PRODUCT_DOCUMENT": "tests.second_shop.sportshop.documents.item_document",
    "REVIEW_MODEL": "sportshop.Opinion",
    "REVIEW_DOCUMENT": "tests.second_shop.sportshop.documents.opinion_document",
    "PRODUCT_FACETS": {
        "size": "string",
        "color": {"type": "string", "label": "Colour"},
        "material": "string",
        "waist": {"type": "number", "label": "Waist (in)", "buckets": [29, 31]},
        "eco_collection": {"type": "boolean", "label": "Eco collection"},
    },
}
