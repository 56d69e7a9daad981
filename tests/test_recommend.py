"""Recommendations through the API and the real database: similar products (review blend, same category,
diversity, exclusions), examples-based recommendations (validation, two clusters, filters), the review centroids
kept by indexing, and a real worker and the real model where the feature depends on them."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from django.db import transaction
from rest_framework.test import APIClient

from catalog.models import Category, Product, Review
from shopsearch import indexing, recommend, spaces
from shopsearch.models import Document, Embedding, ReviewVector

from .conftest import COATS, demo_rows, load_products, wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [hit["id"] for hit in response.json()["results"]]


# --- examples-based -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["average", "best_score"])
def test_negative_examples_push_results_away(clusters, api, strategy):
    coats = {clusters[f"coat{n}"] for n in range(6)}
    dresses = {clusters[f"dress{n}"] for n in range(6)}
    plain = ids(
        api.post(
            "/api/recommendations/",
            {"positive": [clusters["bridge"]], "strategy": strategy, "limit": 10},
            format="json",
        )
    )
    assert set(plain) & dresses and set(plain) & coats  # the bridge alone is near both clusters
    away = ids(
        api.post(
            "/api/recommendations/",
            {"positive": [clusters["bridge"]], "negative": [clusters["dress0"]], "strategy": strategy, "limit": 5},
            format="json",
        )
    )
    assert len(away) == 5 and set(away) <= coats


@pytest.mark.parametrize("strategy", ["average", "best_score"])
def test_examples_hold_filters_and_never_return_the_examples(clusters, api, strategy):
    body = {
        "positive": [clusters["coat0"], clusters["dress0"]],
        "negative": [clusters["coat1"]],
        "strategy": strategy,
        "limit": 20,
        "filters": {"max_price": "40", "in_stock": True},
    }
    response = api.post("/api/recommendations/", body, format="json")
    hits = response.json()["results"]
    assert hits and all(float(hit["price"]) <= 40 and hit["in_stock"] for hit in hits)
    assert not {hit["id"] for hit in hits} & {clusters["coat0"], clusters["dress0"], clusters["coat1"]}
    scores = [hit["score"] for hit in hits]
    assert scores == sorted(scores, reverse=True)


def test_examples_validation(clusters, api):
    def post(body):
        return api.post("/api/recommendations/", body, format="json")

    response = post({"positive": []})
    assert response.status_code == 400 and "positive" in response.json()["detail"]
    assert post({}).status_code == 400
    response = post({"positive": [clusters["coat0"]] + [str(n) for n in range(1000, 1050)]})
    assert response.status_code == 400 and "positive" in response.json()["detail"]
    response = post({"positive": [clusters["coat0"]], "negative": [str(n) for n in range(1000, 1051)]})
    assert response.status_code == 400 and "negative" in response.json()["detail"]
    response = post({"positive": [clusters["coat0"], clusters["coat1"]], "negative": [clusters["coat1"]]})
    assert (
        response.status_code == 400
        and "negative" in response.json()["detail"]
        and clusters["coat1"] in response.json()["detail"]
    )
    response = post({"positive": [clusters["coat0"]], "strategy": "median"})
    assert response.status_code == 400 and "strategy" in response.json()["detail"]
    response = post({"positive": [clusters["coat0"]], "filters": {"category": "Nope"}})
    assert response.status_code == 400 and "filters.category" in response.json()["detail"]
    response = post({"positive": [clusters["coat0"], "no-such-product"]})
    assert response.status_code == 404 and "no-such-product" in response.json()["detail"]
    Embedding.objects.filter(document__object_id=clusters["dress2"], kind="product").delete()
    response = post({"positive": [clusters["coat0"]], "negative": [clusters["dress2"]]})
    assert response.status_code == 409 and "still being indexed" in response.json()["detail"]


# --- similar ----------------------------------------------------------------------------------------------------


def test_similar_never_lists_the_product_or_its_exact_duplicates(clusters, api, run_on_commit):
    twin = run_on_commit(
        Product.objects.create,
        external_id="coat0-twin",
        title=COATS[0],
        category=Category.objects.get(name="Coats"),
        price=10,
    )
    for params in ({}, {"diversity": "0.5"}, {"same_category": "true"}):
        found = ids(api.get(f"/api/products/{clusters['coat0']}/similar/", {"limit": 50, **params}))
        assert found and clusters["coat0"] not in found and str(twin.pk) not in found


def test_similar_same_category_diversity_and_filters_hold(clusters, api):
    url = f"/api/products/{clusters['bridge']}/similar/"
    same = api.get(url, {"same_category": "true", "limit": 50}).json()["results"]
    assert same and all(hit["category"] == "Coats" for hit in same)
    for params in (
        {"max_price": "30", "in_stock": "true"},
        {"category": "Dresses", "diversity": "0.7"},
        {"same_category": "true", "min_price": "20"},
    ):
        hits = api.get(url, {"limit": 50, **params}).json()["results"]
        assert hits
        assert all(
            float(hit["price"]) <= float(params.get("max_price", 1e9))
            and float(hit["price"]) >= float(params.get("min_price", 0))
            for hit in hits
        )
        assert all(hit["in_stock"] for hit in hits) if "in_stock" in params else True
        assert all(
            hit["category"] == params.get("category", "Coats" if "same_category" in params else hit["category"])
            for hit in hits
        )
    assert (
        ids(api.get(url, {"same_category": "true", "category": "Dresses"})) == []
    )  # contradictory: nothing matches both
    response = api.get(url, {"diversity": "1.5"})
    assert response.status_code == 400 and "diversity" in response.json()["detail"]


def test_diversity_spreads_the_list_over_both_clusters(clusters):
    """A coat's nearest products are coats; with diversity the other cluster comes up in the first four."""
    plain = recommend.similar_products(clusters["coat0"], limit=4)
    diverse = recommend.similar_products(clusters["coat0"], limit=4, diversity=0.9)
    dresses = {clusters[f"dress{n}"] for n in range(6)}
    assert not {hit.id for hit in plain} & dresses
    assert {hit.id for hit in diverse} & dresses
    assert diverse[0].score == pytest.approx(
        plain[0].score, abs=1e-5
    )  # the first pick is a most similar one either way


# --- review centroids -----------------------------------------------------------------------------------------------


def centroid(product_pk: str) -> np.ndarray | None:
    row = (
        ReviewVector.objects.filter(document__object_id=product_pk, document__kind="product")
        .values_list("vector", flat=True)
        .first()
    )
    return None if row is None else np.asarray(row)


def review_vectors(review_pks) -> np.ndarray:
    return np.asarray(
        [Embedding.objects.get(document__kind="review", document__object_id=str(pk)).vector for pk in review_pks]
    )


def expected_centroid(review_pks) -> np.ndarray:
    mean = review_vectors(review_pks).mean(axis=0)
    return mean / np.linalg.norm(mean)


def test_review_centroid_follows_review_edits_moves_and_deletes(clusters, run_on_commit):
    coat, dress = Product.objects.get(pk=clusters["coat0"]), Product.objects.get(pk=clusters["dress0"])
    assert centroid(clusters["coat0"]) is None
    first = run_on_commit(
        Review.objects.create, external_id="r1", product=coat, text="Runs small, order a size up", rating=4
    )
    second = run_on_commit(Review.objects.create, external_id="r2", product=coat, text="So warm in the snow", rating=5)
    assert np.allclose(centroid(clusters["coat0"]), expected_centroid([first.pk, second.pk]), atol=1e-5)
    assert ReviewVector.objects.get(document__object_id=clusters["coat0"]).reviews == 2
    first.text = "The zipper broke after a week"
    run_on_commit(first.save)
    assert np.allclose(centroid(clusters["coat0"]), expected_centroid([first.pk, second.pk]), atol=1e-5)
    second.product = dress
    run_on_commit(second.save)  # moved to another product: both centroids change
    assert np.allclose(centroid(clusters["coat0"]), expected_centroid([first.pk]), atol=1e-5)
    assert np.allclose(centroid(clusters["dress0"]), expected_centroid([second.pk]), atol=1e-5)
    run_on_commit(first.delete)
    assert centroid(clusters["coat0"]) is None and centroid(clusters["dress0"]) is not None


def test_a_product_indexed_after_its_reviews_gets_its_centroid(fake_model, run_on_commit):
    spaces.ensure_active_space()
    product = Product.objects.create(external_id="late", title="Wool coat")  # no on_commit: not indexed yet
    review = Review.objects.create(external_id="r-late", product=product, text="Warm and soft")
    indexing.index_objects("review", [review.pk])
    assert centroid(str(product.pk)) is None  # no product document to attach it to yet
    indexing.index_objects("product", [product.pk])
    assert np.allclose(centroid(str(product.pk)), expected_centroid([review.pk]), atol=1e-5)


def test_reviews_bring_together_products_customers_describe_alike(clusters, run_on_commit):
    """coat0 and dress0 share no words, but their reviews do: the review blend brings dress0 up; text alone does
    not. A product without reviews (coat5) still gets neighbours, by text."""

    def review(key, n, text):
        return Review.objects.create(external_id=f"{key}-{n}", product_id=clusters[key], text=text)

    def create():
        for n in range(3):
            review("coat0", n, f"gorgeous embroidery, flattering neckline, compliments everywhere {n}")
            review("dress0", n, f"gorgeous embroidery, flattering neckline, compliments everywhere {n}")
            review("coat1", n, f"terrible stitching, returned it, buttons fell off {n}")

    run_on_commit(create)
    text_only = [hit.id for hit in recommend.similar_products(clusters["coat0"], limit=12, review_weight=0.0)]
    blended = [hit.id for hit in recommend.similar_products(clusters["coat0"], limit=12, review_weight=0.5)]
    assert text_only.index(clusters["dress0"]) > blended.index(clusters["dress0"])
    assert recommend.similar_products(clusters["coat0"], limit=1, review_weight=1.0)[0].id == clusters["dress0"]
    assert (
        clusters["coat1"] in text_only[:5] and clusters["coat1"] not in blended[:5]
    )  # coats, but reviewed unlike coat0
    assert len(recommend.similar_products(clusters["coat5"], limit=5)) == 5


def test_review_centroids_rank_the_same_exactly_and_through_hnsw(clusters, run_on_commit, settings):
    """Few qualifying products have their centroids ranked exactly, many go through the HNSW index: on a small
    catalogue (where HNSW misses nothing) both give the same neighbours; filters and exclusions hold in both."""
    words = [
        "warm wool",
        "light silk",
        "cosy fleece",
        "crisp linen",
        "soft cashmere",
        "sturdy denim",
        "flowing chiffon",
    ]

    def create():
        for n, key in enumerate(sorted(clusters)):
            for k in range(2):
                Review.objects.create(
                    external_id=f"{key}-{k}",
                    product_id=clusters[key],
                    text=f"{words[(n + k) % len(words)]}, review {n} {k}",
                )

    run_on_commit(create)
    space = spaces.ensure_active_space()
    document, _, review = recommend.product_vectors(space, clusters["coat0"], "")
    exclude = {"exclude_ids": [document.object_id], "exclude_hash": document.content_hash, "collection": ""}
    product_pks = {int(pk): key for key, pk in clusters.items()}
    for filters in (recommend.Filters(), recommend.Filters(max_price=40, in_stock=True)):
        ranked = {}
        for exact_max_rows in (2000, 0):
            settings.SHOPSEARCH = {**settings.SHOPSEARCH, "EXACT_SEARCH_MAX_ROWS": exact_max_rows}
            doc_ids = [
                doc_id for doc_id, _ in recommend.nearest_review_centroids(space, review, filters, 20, **exclude)
            ]
            ranked[exact_max_rows] = [Document.objects.get(pk=doc_id).object_id for doc_id in doc_ids]
        assert set(ranked[2000]) == set(ranked[0]) and ranked[0]
        for order in ranked.values():  # both nearest first; near-ties may come in either order (a CI run swapped two)
            centroids = [recommend.product_vectors(space, oid, "")[2] for oid in order]
            distances = [
                1 - float(review @ c / np.linalg.norm(review) / np.linalg.norm(c)) for c in centroids
            ]  # cosine, as ranked
            assert all(a <= b + 1e-4 for a, b in zip(distances, distances[1:], strict=False))
        assert clusters["coat0"] not in ranked[0]
        kept = Product.objects.filter(pk__in=ranked[0])
        assert len(kept) == len(ranked[0]) and (
            filters.max_price is None or all(p.price <= 40 and p.in_stock for p in kept)
        )
    assert len(ranked[0]) < len(product_pks) - 1  # the filter removed some


# --- the real worker and the real model ------------------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.model
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_keeps_the_review_centroid_current(real_model, celery_worker_process):
    spaces.ensure_active_space()
    rows = demo_rows("demo_reviews.jsonl.gz", limit=3)
    with transaction.atomic():
        product = Product.objects.create(
            external_id="wc-centroid", title="Dresses #1080", description="Dresses from the Dresses department."
        )
        reviews = [
            Review.objects.create(external_id=row["id"], product=product, text=row["text"], rating=row["rating"])
            for row in rows
        ]

    def centroid_matches(pks) -> bool:
        current = centroid(str(product.pk))
        embedded = Embedding.objects.filter(
            document__kind="review", document__object_id__in=[str(pk) for pk in pks]
        ).count() == len(pks)
        return current is not None and embedded and np.allclose(current, expected_centroid(pks), atol=1e-5)

    wait_for(lambda: centroid_matches([r.pk for r in reviews]), "build the centroid of three reviews")
    before = centroid(str(product.pk))
    reviews[0].text = "The fabric pilled after one wash and the seams came apart."
    reviews[0].save()
    wait_for(
        lambda: (
            centroid_matches([r.pk for r in reviews]) and not np.allclose(centroid(str(product.pk)), before, atol=1e-4)
        ),
        "update the centroid after an edit",
    )
    reviews[1].delete()
    wait_for(
        lambda: (
            ReviewVector.objects.filter(document__object_id=str(product.pk), reviews=2).exists()
            and centroid_matches([reviews[0].pk, reviews[2].pk])
        ),
        "update the centroid after a delete",
    )


@pytest.mark.model
def test_real_model_review_blend_finds_items_of_the_same_class(real_model, run_on_commit):
    """Real clothing items described only by department (class withheld; ids hashed, as the source's item numbers
    run by class) and their real reviews: the blend makes an item's neighbours share its class more often."""
    products = demo_rows("demo_products.jsonl.gz", where=lambda r: r["attributes"].get("department") == "Tops")
    by_class: dict[str, list[dict]] = {}
    for row in products:
        by_class.setdefault(row["attributes"]["class"], []).append(row)
    chosen = [row for label in ("Knits", "Blouses", "Sweaters") for row in by_class[label][:12]]
    wanted = {row["id"] for row in chosen}
    reviews, per_item = [], {}
    for row in demo_rows("demo_reviews.jsonl.gz", where=lambda r: r["product_id"] in wanted):
        if per_item.setdefault(row["product_id"], 0) < 8:  # eight reviews an item keep the test short
            per_item[row["product_id"]] += 1
            reviews.append(row)
    label = {row["id"]: row["attributes"]["class"] for row in chosen}

    def create():
        made = load_products(
            [
                {
                    "id": row["id"],
                    "title": f"Tops item {hashlib.sha256(row['id'].encode()).hexdigest()[:6]}",
                    "description": "From the Tops department.",
                }
                for row in chosen
            ]
        )
        pk = {product.external_id: product for product in made}
        Review.objects.bulk_create(
            [
                Review(external_id=r["id"], product=pk[r["product_id"]], title=r["title"], text=r["text"])
                for r in reviews
            ]
        )
        return {str(product.pk): label[product.external_id] for product in made}

    classes = run_on_commit(create)
    indexing.reindex(spaces.active_space(), kinds=("review",))

    def share(weight: float) -> float:
        return float(
            np.mean(
                [
                    np.mean(
                        [
                            classes[hit.id] == classes[pk]
                            for hit in recommend.similar_products(pk, limit=5, review_weight=weight)
                        ]
                    )
                    for pk in classes
                ]
            )
        )

    assert share(0.25) > share(0.0) + 0.05
