"""The sports shop's fixtures. tests/conftest.py (fake and real model, the real Celery worker, wait_for) applies here
too; only what `celery -A` loads in the worker differs."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import transaction

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def celery_app_module() -> str:
    return "tests.second_shop"


def luma_rows(name: str) -> list[dict]:
    """Rows of the shipped Luma subset (data/NOTICE.md)."""
    with gzip.open(DATA / name, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def new_items(rows: list[dict]) -> list:
    from .sportshop.models import Item

    return [
        Item(
            sku=row["id"],
            name=row["title"],
            blurb=row["description"],
            section=row["category"],
            list_price=Decimal(str(row["price"])),
            units_left=0 if row["id"].startswith("24-WG0") else 10,
            specs=row["attributes"],
        )
        for row in rows
    ]


def new_opinions(rows: list[dict], items: dict) -> list:
    from .sportshop.models import Opinion

    return [
        Opinion(item=items[row["product_id"]], stars=row["rating"], headline=row["title"], body=row["text"])
        for row in rows
    ]


def stock_the_shop(skus: set[str], *, bulk: bool) -> dict:
    """Create these items of the subset and their opinions in one transaction: with bulk_create (no signals, as a
    catalogue that exists before shopsearch is installed) or one save() each (the signals fire on commit).
    Returns {sku: Item}."""
    from .sportshop.models import Item, Opinion

    products = [row for row in luma_rows("luma_products.jsonl.gz") if row["id"] in skus]
    reviews = [row for row in luma_rows("luma_reviews.jsonl.gz") if row["product_id"] in skus]
    with transaction.atomic():
        if bulk:
            items = {item.sku: item for item in Item.objects.bulk_create(new_items(products))}
            Opinion.objects.bulk_create(new_opinions(reviews, items))
            return items
        items = {}
        for item in new_items(products):
            item.save()
            items[item.sku] = item
        for opinion in new_opinions(reviews, items):
            opinion.save()
    return items
