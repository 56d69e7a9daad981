"""Keyword, semantic and hybrid search through the API: exact terms, typos, paraphrases, filters, facets, highlights,
explain and hostile input. Hand-written products (tests/data/relevance_tiny) among the real demo catalogue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from catalog.models import Category, Product, Review
from shopsearch import indexing, search, spaces
from shopsearch.conf import setting

from .conftest import demo_rows, load_demo_products

pytestmark = pytest.mark.django_db

TINY = Path(__file__).parent / "data" / "relevance_tiny" / "products.jsonl"


def load_catalogue(demo_limit: int | None) -> dict[str, str]:
    """The hand-written products (category 'Home', priced) plus demo items as distractors; returns tiny id → shop pk."""
    home = Category.objects.create(name="Home")
    tiny = [json.loads(line) for line in TINY.read_text().splitlines()]
    created = {
        row["id"]: Product.objects.create(
            external_id=row["id"],
            title=row["title"],
            description=row["description"],
            category=home,
            price=20 + 10 * index,
            in_stock=index % 2 == 0,
        )
        for index, row in enumerate(tiny)
    }
    load_demo_products(demo_rows("demo_products.jsonl.gz", limit=demo_limit))
    return {key: str(product.pk) for key, product in created.items()}


@pytest.fixture
def catalogue(fake_model):
    return load_catalogue(demo_limit=300)


@pytest.fixture
def api():
    return APIClient()


def top_ids(api, n=3, **params) -> list[str]:
    response = api.get("/api/search/", params)
    assert response.status_code == 200, response.json()
    return [hit["id"] for hit in response.json()["results"][:n]]


@pytest.mark.parametrize("mode", ["keyword", "hybrid"])
@pytest.mark.parametrize(
    ("query", "product"), [("espresso machine", "p1"), ("merino hiking socks", "p4"), ("linen shade lamp", "p6")]
)
def test_exact_terms_find_the_product_in_the_top_3(catalogue, api, mode, query, product):
    assert catalogue[product] in top_ids(api, q=query, mode=mode)


@pytest.mark.parametrize(
    ("query", "product", "mode"),
    [
        (query, product, mode)
        for query, product in [("espreso", "p1"), ("frothr", "p1"), ("merino sokcs", "p4"), ("cafe lamp", "p6")]
        for mode in ("keyword", "hybrid")
    ],
)
def test_misspelled_or_unaccented_title_words_still_find_the_product(catalogue, api, mode, query, product):
    assert catalogue[product] in top_ids(api, q=query, mode=mode)


def test_default_mode_is_hybrid_and_is_echoed(catalogue, api):
    body = api.get("/api/search/", {"q": "espresso"}).json()
    assert body["mode"] == "hybrid"


@pytest.mark.parametrize("mode", ["keyword", "semantic", "hybrid"])
def test_filters_apply_to_every_retriever(catalogue, api, mode):
    hits = api.get(
        "/api/search/", {"q": "socks", "mode": mode, "category": "Home", "max_price": "60", "in_stock": "true"}
    ).json()["results"]
    assert hits and all(h["category"] == "Home" and float(h["price"]) <= 60 and h["in_stock"] for h in hits)


def test_explain_gives_both_ranks_and_the_convex_fused_score(catalogue, api, settings):
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "FUSION": "convex"}
    hits = api.get("/api/search/", {"q": "espresso machine", "explain": "true"}).json()["results"]
    top = setting("KEYWORD_WEIGHT") + setting("VECTOR_WEIGHT")
    fused = [hit["explain"]["fused_score"] for hit in hits]
    assert fused == sorted(fused, reverse=True) and fused == pytest.approx([hit["score"] for hit in hits])
    assert all(0 <= score <= top for score in fused)
    assert hits[0]["explain"]["keyword_rank"] == 1 and hits[0]["explain"]["vector_distance"] is not None
    assert fused[0] >= setting("KEYWORD_WEIGHT")  # the best keyword match carries the whole keyword weight


def test_convex_fusion_by_hand(settings):
    """Keyword scores 2, 1, 0 → 1, .5, 0; similarities .9, .5 → 1, 0; weights 1 and 1."""
    settings.SHOPSEARCH = {**getattr(settings, "SHOPSEARCH", {}), "FUSION": "convex"}
    fused = dict(search.fuse([(1, 2.0), (2, 1.0), (3, 0.0)], [(2, 0.9), (4, 0.5)]))
    assert fused == pytest.approx({1: 1.0, 2: 1.5, 3: 0.0, 4: 0.0})


def test_explain_gives_both_ranks_and_the_rrf_fused_score(catalogue, api, settings):
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "FUSION": "rrf"}
    hits = api.get("/api/search/", {"q": "espresso machine", "explain": "true"}).json()["results"]
    k = setting("RRF_K")
    for hit in hits:
        explain = hit["explain"]
        expected = sum(
            w / (k + rank)
            for w, rank in (
                (setting("KEYWORD_WEIGHT"), explain["keyword_rank"]),
                (setting("VECTOR_WEIGHT"), explain["vector_rank"]),
            )
            if rank
        )
        assert explain["fused_score"] == pytest.approx(expected) == pytest.approx(hit["score"])
    assert hits[0]["explain"]["keyword_rank"] == 1 and hits[0]["explain"]["vector_distance"] is not None
    assert "explain" not in api.get("/api/search/", {"q": "espresso machine"}).json()["results"][0]


def test_a_named_attribute_value_boosts_its_products_and_is_shown(catalogue, api):
    """ "petite" names the declared facet division's value "General Petite" ("General" is a value too: the word that
    only one value has names it); "dresses" names the category Dresses and the class and department Dresses, one word
    and so one boost. Odds of relevance ×2 per query word a product has a named thing of, never a filter."""
    params = {"q": "petite dresses", "explain": "true", "page_size": 100}
    plain = api.get("/api/search/", {**params, "understand": "false"}).json()
    body = api.get("/api/search/", params).json()
    attributes = {"class": ["Dresses"], "department": ["Dresses"], "division": ["General Petite"]}
    assert body["understood"]["attributes"] == attributes and body["understood"]["categories"] == ["Dresses"]
    assert body["results"][0]["explain"]["understood"]["attributes"] == attributes
    products = {str(product.pk): product for product in Product.objects.select_related("category")}
    before = {hit["id"]: hit["score"] for hit in plain["results"]}
    after = {hit["id"]: hit["score"] for hit in body["results"]}
    times = {}
    for doc in before.keys() & after.keys():
        product = products[doc]
        dress = (product.category.name if product.category else None) == "Dresses"
        times[doc] = 2 ** (dress + ((product.attributes or {}).get("division") == "General Petite"))
        odds = before[doc] / (1 - before[doc]) * times[doc]
        assert after[doc] == pytest.approx(odds / (1 + odds), rel=1e-6)
    assert {1, 2, 4} <= set(times.values()), "unboosted products, products with one named thing and with both"
    assert body["results"][0]["id"] in {doc for doc, n in times.items() if n == 4}


def test_highlights_mark_matched_terms_and_escape_html(catalogue, api):
    hit = api.get("/api/search/", {"q": "espresso frothers", "mode": "keyword"}).json()["results"][0]
    assert hit["id"] == catalogue["p1"]
    assert hit["highlights"]["title"] == "Stainless Steel <mark>Espresso</mark> Machine with Milk <mark>Frother</mark>"
    Product.objects.filter(pk=catalogue["p2"]).update(title="Espresso cups <script>x</script>")
    indexing.index_objects("product", [catalogue["p2"]])
    hits = api.get("/api/search/", {"q": "espresso cups", "mode": "keyword"}).json()["results"]
    marked = next(h for h in hits if h["id"] == catalogue["p2"])["highlights"]["title"]
    assert "<script>" not in marked and "<mark>cups</mark>" in marked


def test_facets_count_the_retrieved_products_under_the_filters(catalogue, api):
    body = api.get("/api/search/", {"q": "socks", "mode": "keyword", "page_size": 5}).json()
    facets = body["facets"]
    total = sum(row["count"] for row in facets["in_stock"])
    assert total >= len(body["results"]) and sum(row["count"] for row in facets["price"]) == total
    assert {"value": "Home", "count": 2} in facets["categories"]  # the two socks of the hand-written products
    filtered = api.get(
        "/api/search/", {"q": "socks", "mode": "keyword", "category": "Home", "in_stock": "true"}
    ).json()["facets"]
    assert filtered["categories"] == [{"value": "Home", "count": 1}] and filtered["in_stock"] == [
        {"value": True, "count": 1}
    ]
    assert filtered["price"] == [{"min": "50.00", "max": "100.00", "count": 1}]  # p5: 20 + 10 × 4 = 60, in stock


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": "dress", "mode": "foo"}, "mode"),
        ({"q": "dress", "explain": "maybe"}, "explain"),
        ({"q": "!!! ???"}, "q"),
        ({"q": "%"}, "q"),
        ({"q": "\\"}, "q"),
        ({"q": "👗🧦"}, "q"),
        ({"q": "dress", "reviews": "maybe"}, "reviews"),
        ({"q": "dress", "reviews": "true", "mode": "keyword"}, "reviews"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(catalogue, api, params, field):
    response = api.get("/api/search/", params)
    assert response.status_code == 400
    assert f"{field}:" in response.json()["detail"] and field in response.json()["errors"]


@pytest.mark.parametrize("mode", ["keyword", "semantic", "hybrid"])
@pytest.mark.parametrize(
    "query", ["the of and", "'; DROP TABLE x; --", "50% off", "a\\b", "socks 🧦", "x_%_y", "' OR 1=1 --"]
)
def test_odd_queries_are_a_valid_result_never_a_500(catalogue, api, mode, query):
    response = api.get("/api/search/", {"q": query, "mode": mode, "explain": "true"})
    assert response.status_code == 200, response.json()
    assert isinstance(response.json()["results"], list)
    assert Product.objects.count() == 306  # nothing was dropped


@pytest.mark.model
def test_a_paraphrase_finds_the_product_by_meaning(real_model, api):
    ids = load_catalogue(demo_limit=150)
    for mode in ("semantic", "hybrid"):
        assert ids["p4"] in top_ids(api, q="warm woolen stockings for trekking", mode=mode)
        assert ids["p1"] in top_ids(api, q="appliance that makes cappuccino at home", mode=mode)


@pytest.mark.model
def test_reviews_true_finds_the_product_whose_review_says_it(real_model, api):
    """Demo items of one class share the same text, so only their real reviews tell them apart."""
    reviews_by_product: dict[str, list[dict]] = {}
    for row in demo_rows("demo_reviews.jsonl.gz"):
        reviews_by_product.setdefault(row["product_id"], []).append(row)
    rows = [r for r in demo_rows("demo_products.jsonl.gz", limit=300) if len(reviews_by_product.get(r["id"], [])) <= 6]
    categories = {
        name: Category.objects.get_or_create(name=name)[0] for name in {r["category"] for r in rows if r["category"]}
    }
    products = {
        r["id"]: Product.objects.create(
            external_id=r["id"], title=r["title"], description=r["description"], category=categories.get(r["category"])
        )
        for r in rows
    }
    Review.objects.bulk_create(
        [
            Review(
                external_id=review["id"],
                product=product,
                title=review["title"],
                text=review["text"],
                rating=review["rating"],
            )
            for key, product in products.items()
            for review in reviews_by_product.get(key, [])
        ]
    )
    indexing.reindex(spaces.ensure_active_space(), kinds=("product", "review"), batch_size=256)
    # Real demo data: item 119 is titled "Swim #119" and item 249 "Lounge #249", yet their reviews say
    # "packs well wasn't wrinkly when i took it out of the suitcase" and "perfect packing piece that doesnt wrinkle".
    cases = [
        (str(products["wc-item-119"].pk), "swimsuit that packs well and is not wrinkly out of the suitcase"),
        (str(products["wc-item-249"].pk), "jacket that does not wrinkle when packed for a trip"),
    ]

    def ranked(q: str, mode: str, reviews: bool) -> list[dict]:
        params = {"q": q, "mode": mode, "explain": "true", "page_size": 100, **({"reviews": "true"} if reviews else {})}
        return api.get("/api/search/", params).json()["results"]

    def position(hits: list[dict], pk: str) -> int:
        return next((index for index, hit in enumerate(hits) if hit["id"] == pk), len(hits))

    for mode in ("semantic", "hybrid"):
        for pk, query in cases:
            hits, plain = ranked(query, mode, reviews=True), ranked(query, mode, reviews=False)
            # reviews=true brings it onto the first page (20 hits) from beyond it. The exact place is not stable
            # across runs (8th here, 14th in one CI run), so the first page, what a shopper sees, is what we check.
            assert position(hits, pk) < 20, [(hit["title"], hit["explain"]) for hit in hits[:3]]
            assert hits[position(hits, pk)]["explain"]["review_rank"] <= 10
            assert position(plain, pk) >= 20 and plain[0]["explain"].get("review_rank") is None
