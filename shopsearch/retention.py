"""Event retention: the Celery task that deletes events older than EVENT_RETENTION_DAYS (recommend.delete_old_events).
Schedule it daily with celery beat (the demo's settings do: CELERY_BEAT_SCHEDULE); the worker finds it through
CELERY_IMPORTS."""
from __future__ import annotations

from celery import shared_task

from . import recommend


@shared_task(name="shopsearch.delete_old_events")
def delete_old_events() -> dict:
    return {"deleted": recommend.delete_old_events()}
