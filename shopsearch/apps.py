import logging

from django.apps import AppConfig
from django.core import checks as django_checks

logger = logging.getLogger("shopsearch")


class ShopsearchConfig(AppConfig):
    name = "shopsearch"
    verbose_name = "Shop search"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery import current_app

        from . import checks, signals, tasks

        django_checks.register(checks.check_settings, "shopsearch")
        broken = checks.startup_errors()
        if broken:  # reported by the system check (manage.py check, migrate, runserver) instead of a traceback here
            logger.error(
                "shopsearch: saves are not indexed until SHOPSEARCH is fixed: %s", "; ".join(e.msg for e in broken)
            )
            return
        signals.connect()
        tasks.schedule_periodic_tasks(current_app)
