"""A second shop, unlike the demo catalogue, that proves shopsearch is a plugin: a sports shop (Magento's Luma
sample data) with UUID primary keys, its own field names and its own settings package, without `catalog` installed.

Its tests run in their own pytest invocation (`--ds tests.second_shop.settings`, see scripts/test). As in any Django
project, the settings package loads the Celery app so that tasks go to the shop's broker.
"""

from .celery import app as celery_app

__all__ = ["celery_app"]
