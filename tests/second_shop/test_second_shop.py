"""shopsearch in a shop that is not the demo: UUID primary keys, other field names, its own document functions and
settings, `catalog` not installed. Against the real stack: the embedded PostgreSQL + pgvector, Redis, a real Celery
worker process of the shop's own Celery app, and the real bundled model.

Run with `python -m pytest --ds tests.second_shop.settings tests/second_shop` (scripts/test does).
"""

from __future__ import annotations

import io
import json
import uuid
from collections import Counter

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import transaction
from rest_framework.test import APIClient

from shopsearch.models import Document, Embedding

from ..conftest import wait_for
from .conftest import luma_rows, stock_the_shop
from .sportshop.models import Item, Opinion

API = "/shop-api"


@pytest.mark.django_db
def test_the_shop_runs_without_catalog():
    assert not apps.is_installed("catalog") and "catalog" not in {config.label for config in apps.get_app_configs()}
    call_command("check", "--fail-level", "WARNING")
    call_command(
        "makemigrations", "shopsearch", "--check", "--dry-run", stdout=io.StringIO()
    )  # the plugin's tables need nothing of the shop


def reindex() -> dict:
    """manage.py reindex, as the README says to run it; its JSON summary."""
    out = io.StringIO()
    call_command("reindex", "--no-progress", stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def sections(hits: list[dict]) -> list[str]:
    return [hit["category"] for hit in hits]


@pytest.mark.worker
@pytest.mark.model
@pytest.mark.django_db(transaction=True)
def test_the_sports_shop_indexes_searches_facets_recommends_and_records_events(real_model, celery_worker_process):
    # The shop's catalogue exists before shopsearch: `reindex` embeds it in batches (the README's order: migrate,
    # reindex, worker). Two items arrive later, saved one by one: the signals hand them to the worker.
    skus = {row["id"] for row in luma_rows("luma_products.jsonl.gz")}
    later = {"24-MG01", "24-UG06"}  # Endurance Watch, Affirm Water Bottle
    items = stock_the_shop(skus - later, bulk=True)
    summary = reindex()
    assert summary["embedded"] == Item.objects.count() + Opinion.objects.count() and summary["failed"] == 0, summary
    items |= stock_the_shop(later, bulk=False)
    products, reviews = Item.objects.count(), Opinion.objects.count()
    assert products == len(skus) and Opinion.objects.filter(item__sku__in=later).exists()
    wait_for(lambda: Embedding.objects.filter(kind="product").count() == products, "embed the items saved later")
    wait_for(lambda: Embedding.objects.filter(kind="review").count() == reviews, "embed the opinions saved later")
    jacket, bag = items["MJ02"], items["24-MB03"]  # Hyperion Elements Jacket, Crown Summit Backpack
    assert Document.objects.get(kind="product", object_id=str(jacket.pk)).title == "Hyperion Elements Jacket"
    opinion = Opinion.objects.filter(item=bag).first()
    assert Document.objects.get(kind="review", object_id=str(opinion.pk)).product_id == str(bag.pk)
    assert all(uuid.UUID(oid) for oid in Document.objects.values_list("object_id", flat=True))

    api = APIClient()
    # Keyword, semantic and hybrid search through the REST API; ids are the shop's UUIDs.
    keyword = api.get(f"{API}/search/", {"q": "backpack", "mode": "keyword"}).json()
    assert {hit["title"] for hit in keyword["results"][:3]} == {
        "Crown Summit Backpack",
        "Fusion Backpack",
        "Driven Backpack",
    }
    assert {hit["id"] for hit in keyword["results"]} <= {str(item.pk) for item in items.values()}
    semantic = api.get(
        f"{API}/search/", {"q": "something to tell the time while I run", "mode": "semantic", "page_size": 3}
    ).json()
    assert sections(semantic["results"])[:2] == ["Gear/Watches"] * 2  # no title or description says "time"
    hybrid = api.get(f"{API}/search/", {"q": "waterproof jacket for rain", "page_size": 5}).json()
    assert hybrid["mode"] == "hybrid" and sections(hybrid["results"])[0] == "Men/Tops/Jackets"

    # Facets on the shop's categories (this small shop is within one query's candidates: every item is counted),
    # and the category and stock filters.
    faceted = api.get(f"{API}/search/", {"q": "short for running", "mode": "semantic", "page_size": 50}).json()
    assert faceted["results"][0]["category"] == "Women/Bottoms/Shorts"
    per_section = Counter(item.section for item in items.values())
    assert {facet["value"]: facet["count"] for facet in faceted["facets"]["categories"]} == per_section
    shorts = api.get(
        f"{API}/search/", {"q": "short for running", "category": "Women/Bottoms/Shorts", "page_size": 50}
    ).json()
    assert (
        sections(shorts["results"]) == ["Women/Bottoms/Shorts"] * len(shorts["results"]) and len(shorts["results"]) == 8
    )
    assert {facet["value"]: facet["count"] for facet in shorts["facets"]["categories"]} == {"Women/Bottoms/Shorts": 8}
    in_stock = api.get(f"{API}/search/", {"q": "watch", "category": "Gear/Watches", "in_stock": "true"}).json()
    assert {hit["title"] for hit in in_stock["results"]} == {"Aim Analog Watch", "Endurance Watch"}

    # Similar products of a UUID-keyed item: never itself; a non-UUID or unknown id is a 404, not a 500.
    similar = api.get(f"{API}/products/{jacket.pk}/similar/", {"limit": 5}).json()["results"]
    assert str(jacket.pk) not in {hit["id"] for hit in similar} and sections(similar).count("Men/Tops/Jackets") >= 3
    same = api.get(f"{API}/products/{bag.pk}/similar/", {"limit": 5, "same_category": "true"}).json()["results"]
    assert len(same) == 5 and set(sections(same)) == {"Gear/Bags"}
    assert api.get(f"{API}/products/{uuid.uuid4()}/similar/").status_code == 404
    assert api.get(f"{API}/products/42/similar/").status_code == 404

    # Events with UUID product ids; for-session and trending read them.
    watch, bottle = items["24-MG01"], items["24-UG06"]
    issued = api.post(f"{API}/sessions/")
    assert issued.status_code == 201, issued.content
    session = issued.json()["session"]
    events = [
        {"type": "view", "session_id": session, "product_id": str(watch.pk)},
        {"type": "click", "session_id": session, "product_id": str(bottle.pk), "query": "bottle", "position": 1},
        {"type": "add_to_cart", "session_id": session, "product_id": str(bottle.pk)},
    ]
    response = api.post(f"{API}/events/", events, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["stored"] == 3
    bad = api.post(
        f"{API}/events/", [{"type": "like", "session_id": session, "product_id": str(watch.pk)}], format="json"
    )
    assert bad.status_code == 400 and "type" in bad.json()["detail"]
    for_session = api.get(f"{API}/recommendations/for-session/", {"session": session, "limit": 3}).json()["results"]
    assert str(watch.pk) not in {hit["id"] for hit in for_session} and sections(for_session)[0] == "Gear/Watches"
    trending = api.get(f"{API}/recommendations/trending/", {"limit": 2}).json()["results"]
    assert [hit["id"] for hit in trending] == [str(bottle.pk), str(watch.pk)]

    # Edits and deletes reach the index through the worker too.
    with transaction.atomic():
        Item.objects.filter(pk=bag.pk).update(name="Crown Summit Rucksack")  # no signal: update() bypasses save()
        renamed = Item.objects.get(pk=jacket.pk)
        renamed.name = "Hyperion Elements Rain Jacket"
        renamed.save()
    wait_for(
        lambda: Document.objects.get(kind="product", object_id=str(jacket.pk)).title == "Hyperion Elements Rain Jacket",
        "re-index an edit",
    )
    gone = items["24-WB02"]
    gone_reviews = [str(pk) for pk in gone.opinions.values_list("pk", flat=True)]
    gone.delete()
    wait_for(
        lambda: not Document.objects.filter(object_id__in=[str(gone.pk), *gone_reviews]).exists(),
        "remove a deleted item and its opinions",
    )

    # reindex: the bag renamed behind the signals' back is caught up; everything else is unchanged.
    summary = reindex()
    assert summary["embedded"] == 1 and summary["failed"] == 0, summary
    assert Document.objects.get(kind="product", object_id=str(bag.pk)).title == "Crown Summit Rucksack"
