"""Declared attribute facets and the rating facet of the demo shop through the search API, on the real PostgreSQL +
pgvector: the whole CC0 demo catalogue (1,179 items; class, department and division declared in
shopsite/settings.py) with the reviews of the products a filter keeps. Filters work in every mode, a selective one
still fills the page through the HNSW iterative scan, and every count equals one computed here from the shop's own
rows (catalog.models), not from shopsearch's documents. The fake encoder keeps it fast; tests/second_shop checks
multi-valued and number facets with the real model and a real worker."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

from catalog.models import Category, Product, Review
from shopsearch import checks, indexing, spaces
from shopsearch.registry import ProductDocument, facet_values

from .conftest import demo_rows

pytestmark = pytest.mark.django_db

OUTERWEAR = ("Jackets", "Outerwear")  # 57 of the 1,179 items: a filter that keeps 5 %


@pytest.fixture
def shop(fake_model, settings):
    """The demo catalogue and the real reviews of its jackets and outerwear, indexed; every vector search goes through
    the HNSW index (no exact scan for small filtered sets)."""
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "EXACT_SEARCH_MAX_ROWS": 0}
    rows = demo_rows("demo_products.jsonl.gz")
    names = {row["category"] for row in rows if row["category"]}
    categories = {name: Category.objects.create(name=name) for name in names}
    products = Product.objects.bulk_create(
        [
            Product(
                external_id=row["id"],
                title=row["title"],
                description=row["description"],
                attributes=row["attributes"],
                category=categories.get(row["category"]),
            )
            for row in rows
        ]
    )
    by_external = {product.external_id: product for product in products}
    outerwear = {row["id"] for row in rows if row["attributes"].get("class") in OUTERWEAR}
    reviews = demo_rows("demo_reviews.jsonl.gz", where=lambda row: row["product_id"] in outerwear)
    Review.objects.bulk_create(
        [
            Review(
                external_id=row["id"],
                product=by_external[row["product_id"]],
                title=row.get("title", ""),
                text=row["text"],
                rating=row.get("rating"),
            )
            for row in reviews
        ]
    )
    indexing.reindex(spaces.ensure_active_space(), batch_size=1000)
    return products


@pytest.fixture
def api():
    return APIClient()


def every_hit(api, params: dict) -> tuple[dict, list[dict]]:
    """The first page's body and the hits of all pages (100 a page)."""
    first = api.get("/api/search/", {**params, "page_size": 100}).json()
    hits, page = list(first["results"]), 1
    while first["has_next"] and page < 10:
        page += 1
        hits += api.get("/api/search/", {**params, "page_size": 100, "page": page}).json()["results"]
    return first, hits


def values(facets: dict, name: str) -> dict:
    facet = next((facet for facet in facets["attributes"] if facet["name"] == name), {"values": []})
    return {row["value"]: row["count"] for row in facet["values"]}


def expected_rating_steps(products: list[Product]) -> list[dict]:
    """The rating facet computed from the shop's reviews: products whose mean stars reach 4, 3, 2, 1."""
    means = []
    for product in products:
        stars = [review.rating for review in product.reviews.all() if review.rating is not None]
        if stars:
            means.append(sum(stars) / len(stars))
    return [{"min": step, "count": n} for step in (4, 3, 2, 1) if (n := sum(mean >= step for mean in means))]


def test_attribute_and_rating_filters_fill_the_page_in_every_mode_and_the_counts_are_the_shops(shop, api):
    # Repeated values of one attribute are OR'd, different attributes AND'd.
    wanted = [
        p
        for p in Product.objects.prefetch_related("reviews")
        if p.attributes.get("class") in OUTERWEAR and p.attributes.get("division") == "General"
    ]
    assert 20 < len(wanted) < 57
    means = {
        str(p.pk): sum(r.rating for r in p.reviews.all()) / p.reviews.count()
        for p in Product.objects.filter(reviews__isnull=False).distinct().prefetch_related("reviews")
    }
    liked = {pk for pk, mean in means.items() if mean >= 4.5}
    for mode in ("keyword", "semantic", "hybrid"):
        params = {"q": "jacket", "mode": mode, "attr.class": list(OUTERWEAR), "attr.division": "General"}
        page = api.get("/api/search/", {**params, "page_size": 20}).json()
        assert len(page["results"]) == 20 and page["has_next"], mode  # a full page, through HNSW in semantic and hybrid
        first, hits = every_hit(api, params)
        ids = {str(p.pk) for p in wanted}
        assert {hit["id"] for hit in hits} == ids and len(hits) == len(ids) == first["total"], mode  # all say "jacket"
        facets = first["facets"]
        assert values(facets, "class") == Counter(p.attributes["class"] for p in wanted), mode
        assert values(facets, "division") == {"General": len(wanted)}, mode
        assert values(facets, "department") == Counter(p.attributes["department"] for p in wanted), mode
        assert facets["categories"] == [{"value": "Jackets", "count": len(wanted)}], mode
        assert facets["rating"] == expected_rating_steps(wanted), mode
        labels = {facet["name"]: (facet["label"], facet["type"]) for facet in facets["attributes"]}
        assert labels == {
            "class": ("Class", "string"),
            "department": ("Department", "string"),
            "division": ("Division", "string"),
        }, mode

        # min_rating keeps the products whose reviews average at least that many stars
        params = {"q": "jacket", "mode": mode, "attr.class": list(OUTERWEAR), "min_rating": "4.5"}
        first, hits = every_hit(api, params)
        assert liked and {hit["id"] for hit in hits} == liked and all(hit["rating"] >= 4.5 for hit in hits), mode
        assert first["facets"]["rating"] == [{"min": step, "count": len(liked)} for step in (4, 3, 2, 1)], mode

    # sort=rating orders the filtered products by their mean stars, unrated ones last
    hits = api.get(
        "/api/search/", {"q": "jacket", "mode": "keyword", "attr.class": "Jackets", "sort": "rating", "page_size": 100}
    ).json()["results"]
    rated = [hit["rating"] for hit in hits if hit["rating"] is not None]
    assert len(rated) > 5 and rated == sorted(rated, reverse=True)
    assert all(hit["rating"] is None for hit in hits[len(rated) :])


@pytest.mark.parametrize(
    ("params", "field", "says"),
    [
        ({"attr.colour": "black"}, "attr.colour", "Declared attribute facets: class, department, division"),
        ({"attr.class": "Jacket"}, "attr.class", "No product has class 'Jacket'. Known values: none yet"),
        ({"attr.class": ""}, "attr.class", "may not be blank"),
        ({"attr.class.min": "3"}, "attr.class.min", "class is a string facet: use attr.class"),
        ({"min_rating": "six"}, "min_rating", "A valid number is required"),
        ({"min_rating": "0"}, "min_rating", "greater than or equal to 1"),
    ],
)
def test_a_bad_attribute_filter_is_a_400_naming_the_parameter(api, params, field, says):
    response = api.get("/api/search/", {"q": "jacket", **params})
    assert response.status_code == 400
    body = response.json()
    assert field in body["errors"] and body["detail"].startswith(field) and says in body["detail"], body


def test_the_schema_lists_the_declared_attribute_filters(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    parameters = {parameter["name"]: parameter for parameter in schema["paths"]["/api/search/"]["get"]["parameters"]}
    assert parameters["attr.class"]["schema"]["type"] == "array"
    assert "repeat the parameter" in parameters["attr.class"]["description"]
    assert {"attr.department", "attr.division", "min_rating"} <= set(parameters)
    facets = schema["components"]["schemas"]["Facets"]["properties"]
    assert {"rating", "attributes"} <= set(facets)


@pytest.mark.parametrize(
    ("declared", "says"),
    [
        ({"colour": "text"}, "type 'text' is none of string, number, boolean"),
        ({"size.min": "string"}, "its name must be 1-50 letters"),
        ({"colour": {"type": "string", "buckets": [1]}}, "buckets are a list of numbers, for a number facet"),
        ({"waist": {"type": "number", "bucket": [30]}}, "a dict of type, label and buckets"),
    ],
)
def test_the_system_check_rejects_a_malformed_facet_declaration(settings, declared, says):
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "PRODUCT_FACETS": declared}
    (error,) = [message for message in checks.check_settings() if message.id == "shopsearch.E007"]
    assert says in error.msg and "PRODUCT_FACETS" in error.msg


def test_document_facet_values_are_typed_by_the_declaration(settings):
    declared = {"size": "string", "waist": "number", "eco": "boolean"}
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "PRODUCT_FACETS": declared}
    given = {"size": ["S", "M", "S", ""], "waist": ["30", 31.5, Decimal("32")], "eco": "Yes"}
    doc = ProductDocument(title="Short", facets=given)
    assert facet_values(doc) == {"size": ["S", "M"], "waist": [30, 31.5, 32], "eco": [True]}
    with pytest.raises(ImproperlyConfigured, match=r"facet 'colour' that SHOPSEARCH\['PRODUCT_FACETS'\] does not"):
        facet_values(ProductDocument(title="Short", facets={"colour": "red"}))
    with pytest.raises(ImproperlyConfigured, match=r"gives facet 'waist' the value 'XL', which is not a number"):
        facet_values(ProductDocument(title="Short", facets={"waist": "XL"}))
