"""Rows edited through the real pipeline stay findable: what search serves and what the HNSW indexes return agree with
an exact scan over the stored vectors, for products, reviews and review centroids (the bundled model, inline tasks).

The demo catalogue's items are near-identical ("Dresses #1080 / Dresses from the Dresses department…"): there a
graph search for a distinctive new title misses the row it should find (benchmarks/hnsw_recall.py), so a catalogue
that small is ranked exactly. The HNSW checks run on the Luma catalogue, whose texts differ like a real shop's.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from django.db import transaction

from catalog.models import Category, Product, Review
from shopsearch import indexing, recommend, search, spaces
from shopsearch.models import SHOP_COLLECTION, Document, Embedding, PendingChange, ReviewVector

from .conftest import SHARED_DATA, demo_rows

pytestmark = [pytest.mark.model, pytest.mark.django_db]

WORDS = (
    "amber basil cedar dune ember fjord garnet harbor indigo juniper kestrel lagoon meadow nectar onyx pebble".split()
)
LUMA = SHARED_DATA / "magento_luma"


def edit_titles(products: list[Product], rng: random.Random) -> None:
    """Give each product a new, distinctive title, one save (and one commit) at a time, as a shop owner would."""
    for product in products:
        product.title = f"{rng.choice(WORDS)} {rng.choice(WORDS)} edition"
        with transaction.atomic():
            product.save()


def exact_first(space, kind: str, vector: np.ndarray, category: str | None = None) -> int:
    """Document id of the stored vector of `kind` (in `category`, if given) nearest to `vector`, by numpy over every
    stored vector."""
    stored = Embedding.objects.filter(space=space, kind=kind, document__collection=SHOP_COLLECTION)
    rows = list(
        (stored.filter(document__category=category) if category else stored).values_list("document_id", "vector")
    )
    matrix = np.asarray([vector for _, vector in rows], dtype=np.float32)
    return rows[int(np.argmax(matrix @ vector))][0]


def test_edited_demo_products_are_served_as_an_exact_scan_ranks_them(real_model, django_capture_on_commit_callbacks):
    rng = random.Random(1)
    rows = demo_rows("demo_products.jsonl.gz", limit=150)
    categories = {
        name: Category.objects.create(name=name) for name in {row["category"] for row in rows if row.get("category")}
    }
    products = Product.objects.bulk_create(
        [
            Product(
                external_id=row["id"],
                title=row["title"],
                description=row["description"],
                attributes=row["attributes"],
                category=categories.get(row.get("category")),
            )
            for row in rows
        ]
    )
    indexing.reindex(spaces.ensure_active_space())  # a bulk load, then edits one save at a time
    edited = rng.sample([product for product in products if product.category_id], 12)
    with django_capture_on_commit_callbacks(execute=True):
        edit_titles(edited, rng)
    space = spaces.active_space()
    assert not PendingChange.objects.exists()  # every change applied
    for product in edited:
        vector = search.encode_query(space, product.title)
        page = search.search_products(product.title, "semantic", facets=False, highlight=False)
        assert Document.objects.get(object_id=page.hits[0].id, kind="product").pk == exact_first(
            space, "product", vector
        )
        category = product.category.name
        filtered = search.search_products(
            product.title, "semantic", search.Filters(category=category), facets=False, highlight=False
        )
        assert Document.objects.get(object_id=filtered.hits[0].id, kind="product").pk == exact_first(
            space, "product", vector, category
        )


@pytest.mark.slow  # about a minute: every Luma product, review and centroid; the products test above is default
@pytest.mark.skipif(not LUMA.exists(), reason="../shared/data/magento_luma is not beside the checkout")
def test_hnsw_indexes_find_edited_products_reviews_and_centroids_as_an_exact_scan_does(
    real_model, settings, django_capture_on_commit_callbacks
):
    rng = random.Random(2)
    rows = [json.loads(line) for line in (LUMA / "products.jsonl").open(encoding="utf-8")]
    reviews = [json.loads(line) for line in (LUMA / "reviews.jsonl").open(encoding="utf-8")]
    categories = {name: Category.objects.create(name=name) for name in {row["category"] for row in rows}}
    made = {
        product.external_id: product
        for product in Product.objects.bulk_create(
            [
                Product(
                    external_id=row["id"],
                    title=row["title"],
                    description=row["description"],
                    attributes=row["attributes"],
                    price=row["price"],
                    category=categories[row["category"]],
                )
                for row in rows
            ]
        )
    }
    written = Review.objects.bulk_create(
        [
            Review(
                external_id=r["id"],
                product=made[r["product_id"]],
                title=r.get("title", ""),
                text=r["text"],
                rating=r["rating"],
            )
            for r in reviews
            if r["product_id"] in made
        ]
    )
    indexing.reindex(spaces.ensure_active_space())
    edited = rng.sample(list(made.values()), 15)
    changed_reviews = rng.sample(written, 15)
    with django_capture_on_commit_callbacks(execute=True):
        edit_titles(edited, rng)
        for review in changed_reviews:
            review.text = (
                f"Update after a month: {rng.choice(WORDS)} {rng.choice(WORDS)} is what I call it now. " + review.text
            )
            with transaction.atomic():
                review.save()
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "EXACT_SEARCH_MAX_ROWS": 0}  # every search through HNSW
    space = spaces.active_space()

    agree = 0
    for product in edited:
        vector = search.encode_query(space, product.title)
        agree += search.nearest_products(space, vector, search.Filters(), 100)[0][0] == exact_first(
            space, "product", vector
        )
        filtered = search.nearest_products(space, vector, search.Filters(category=product.category.name), 100)
        assert len(filtered) == min(
            100, Product.objects.filter(category=product.category).count()
        )  # a full page: filter inside the scan
    assert agree >= len(edited) - 1

    agree = 0
    for review in changed_reviews:
        vector = search.encode_query(space, review.text)
        agree += search.nearest_reviews(space, vector, 10)[0][0] == exact_first(space, "review", vector)
    assert agree >= len(changed_reviews) - 1

    centroids = dict(ReviewVector.objects.filter(space=space).values_list("document_id", "vector"))
    matrix = np.asarray(list(centroids.values()), dtype=np.float32)
    touched = {Document.objects.get(kind="product", object_id=str(review.product_id)).pk for review in changed_reviews}
    agree = 0
    for doc_id in touched:
        vector = np.asarray(centroids[doc_id], dtype=np.float32)
        nearest = recommend.nearest_review_centroids(space, vector, search.Filters(), 10)
        agree += nearest[0][0] == list(centroids)[int(np.argmax(matrix @ vector))] == doc_id
    assert agree >= len(touched) - 1
