from django.apps import AppConfig


class ShopsearchConfig(AppConfig):
    name = "shopsearch"
    verbose_name = "Shop search"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import signals

        signals.connect()
