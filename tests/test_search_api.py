"""The search and similar-products API, the schema and the storefront page, with the fake encoder."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from catalog.models import Product
from shopsearch import encoders, indexing, search, spaces, sql

from .conftest import demo_rows, load_demo_products

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue(fake_model):
    """The whole demo catalogue (1,179 real items), bulk-loaded and indexed; a few items get prices."""
    rows = demo_rows("demo_products.jsonl.gz")
    load_demo_products(rows)
    return rows


@pytest.fixture
def api():
    return APIClient()


def test_search_returns_ranked_scored_hits(catalogue, api):
    response = api.get("/api/search/", {"q": "Jackets"})
    assert response.status_code == 200
    body = response.json()
    assert body["page"] == 1 and body["page_size"] == 20 and body["has_next"] is True
    scores = [hit["score"] for hit in body["results"]]
    assert len(scores) == 20
    # best first (float4 index vs float8 distance)
    assert all(a >= b - 1e-6 for a, b in zip(scores, scores[1:], strict=False))
    assert body["results"][0]["title"].startswith("Jackets")


def test_pages_do_not_overlap(catalogue, api):
    first = api.get("/api/search/", {"q": "Knits tops", "page_size": 10}).json()["results"]
    second = api.get("/api/search/", {"q": "Knits tops", "page_size": 10, "page": 2}).json()["results"]
    assert len(second) == 10 and not {h["id"] for h in first} & {h["id"] for h in second}


@pytest.mark.parametrize(
    "filters",
    [
        {"category": "Trend"},
        {"category": "Trend", "in_stock": "true", "max_price": "40"},
        {"category": "Jackets", "min_price": "55"},
    ],
)
def test_selective_filters_return_every_match_up_to_a_full_page(catalogue, api, filters):
    trend = sum(1 for r in catalogue if r["category"] == "Trend")
    assert trend < len(catalogue) * 0.05  # the filters select a few per cent of the catalogue or less
    matching = Product.objects.filter(category__name=filters["category"])
    if "in_stock" in filters:
        matching = matching.filter(in_stock=True)
    if "max_price" in filters:
        matching = matching.filter(price__lte=filters["max_price"])
    if "min_price" in filters:
        matching = matching.filter(price__gte=filters["min_price"])
    expected = min(20, matching.count())
    assert expected >= 10
    hits = api.get("/api/search/", {"q": "Jackets outerwear", **filters}).json()["results"]
    assert len(hits) == expected
    assert {h["id"] for h in hits} <= {str(pk) for pk in matching.values_list("pk", flat=True)}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 10_000}, "q"),
        ({}, "q"),
        ({"q": "dress", "category": "No such category"}, "category"),
        ({"q": "dress", "min_price": "abc"}, "min_price"),
        ({"q": "dress", "min_price": "-1"}, "min_price"),
        ({"q": "dress", "min_price": "50", "max_price": "10"}, "min_price"),
        ({"q": "dress", "page": "-1"}, "page"),
        ({"q": "dress", "page": "0"}, "page"),
        ({"q": "dress", "page_size": "1000"}, "page_size"),
        ({"q": "dress", "page": "999"}, "page"),
        ({"q": "dress", "in_stock": "maybe"}, "in_stock"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(catalogue, api, params, field):
    response = api.get("/api/search/", params)
    assert response.status_code == 400
    body = response.json()
    assert field in body["errors"] and body["detail"].startswith(field) or f"{field}:" in body["detail"]


def test_similar_products_exclude_the_product_and_apply_filters(catalogue, api):
    product = Product.objects.get(external_id="wc-item-1080")
    response = api.get(f"/api/products/{product.pk}/similar/", {"limit": 15, "category": product.category.name})
    assert response.status_code == 200
    hits = response.json()["results"]
    assert len(hits) == 15 and str(product.pk) not in {h["id"] for h in hits}
    assert all(h["category"] == product.category.name for h in hits)


def test_similar_unknown_product_is_404_and_unindexed_is_409(catalogue, api):
    assert api.get("/api/products/999999/similar/").status_code == 404
    product = Product.objects.first()
    # by document id: a delete through the join is planned as nested loops over the whole, never-analysed test
    # table and took 6 minutes in one CI run
    documents = list(indexing.Document.objects.filter(object_id=str(product.pk)).values_list("pk", flat=True))
    indexing.Embedding.objects.filter(document_id__in=documents).delete()
    response = api.get(f"/api/products/{product.pk}/similar/")
    assert response.status_code == 409 and "still being indexed" in response.json()["detail"]


def test_search_before_any_index_is_409_with_advice(api, fake_model):
    response = api.get("/api/search/", {"q": "dress"})
    assert response.status_code == 409 and "reindex" in response.json()["detail"]


def test_openapi_schema_and_docs(api):
    schema = api.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/search/" in paths and "/api/products/{product_id}/similar/" in paths
    parameters = {p["name"] for p in paths["/api/search/"]["get"]["parameters"]}
    assert {"q", "category", "min_price", "max_price", "in_stock", "page", "page_size"} <= parameters
    assert api.get("/api/docs/").status_code == 200


def test_storefront_page_has_a_search_box(catalogue, client):
    page = client.get("/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'type="search"' in html and "/api/search/" in html and "<option>Trend</option>" in html


def test_search_statements_start_no_parallel_workers(clusters):
    """nearest_sql's exact branch is planned even where its one-time filter leaves it unused, and Postgres starts the
    planned workers all the same (7-14 ms of a 21 ms review search on the demo): scan settings turn them off. The
    planner's parallel costs are zeroed here, so this small table gets the plan a large one gets."""
    space = spaces.active_space()
    vector = encoders.get_encoder(space.model_name).encode(["warm coat"])[0]
    statement, params = search._nearest_products_sql(space, vector, search.Filters(), 10)
    forced = (
        "SET LOCAL parallel_setup_cost = 0; SET LOCAL parallel_tuple_cost = 0; "
        "SET LOCAL min_parallel_table_scan_size = 0; SET LOCAL min_parallel_index_scan_size = 0"
    )

    def plan(settings: bool) -> str:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(forced)
            if settings:
                cursor.execute(*sql.scan_settings_sql())
            cursor.execute("EXPLAIN " + statement, params)
            return "\n".join(row[0] for row in cursor.fetchall())

    assert "Gather" in plan(settings=False)  # the forced costs do make the planner choose workers
    assert "Gather" not in plan(settings=True)
