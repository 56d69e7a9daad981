from django.apps import AppConfig


class SportshopConfig(AppConfig):
    name = "tests.second_shop.sportshop"
    label = "sportshop"
    default_auto_field = "django.db.models.BigAutoField"
