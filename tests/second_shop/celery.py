"""The sports shop's Celery app (`celery -A tests.second_shop worker`): configuration from its Django settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.second_shop.settings")

app = Celery("second_shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
