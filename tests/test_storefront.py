"""The storefront's server side, with the fake encoder: the search API's sort, total, ratings and matched review
sentence, and the product page (its facts, star counts, and a plain 404 page for an unknown id)."""

from __future__ import annotations

from datetime import UTC

import pytest
from rest_framework.test import APIClient

from catalog.models import Review

pytestmark = pytest.mark.django_db


@pytest.fixture
def rated(clusters, run_on_commit):
    """The clusters catalogue; coat0 has reviews rated 5 and 3, coat1 one rated 1 (hand-computed means 4.0 and 1.0)."""
    from catalog.models import Product

    def create():
        for n, (key, rating, text) in enumerate(
            [
                ("coat0", 5, "Warm wool coat, I love it for winter."),
                ("coat0", 3, "Heavy but warm."),
                ("coat1", 1, "The wool coat itches. Not warm at all."),
            ]
        ):
            Review.objects.create(
                external_id=f"r{n}", product=Product.objects.get(pk=clusters[key]), text=text, rating=rating
            )

    run_on_commit(create)
    return clusters


def test_hits_carry_mean_rating_and_review_count(rated):
    body = APIClient().get("/api/search/", {"q": "wool coat", "mode": "keyword", "page_size": 20}).json()
    by_id = {hit["id"]: hit for hit in body["results"]}
    assert (by_id[rated["coat0"]]["rating"], by_id[rated["coat0"]]["review_count"]) == (4.0, 2)
    assert (by_id[rated["coat1"]]["rating"], by_id[rated["coat1"]]["review_count"]) == (1.0, 1)
    assert (by_id[rated["coat2"]]["rating"], by_id[rated["coat2"]]["review_count"]) == (None, 0)
    assert body["total"] == len(body["results"])  # every keyword candidate fits on the page: the count is known


@pytest.mark.parametrize("sort", ["price_asc", "price_desc", "rating", "reviews"])
def test_sort_reorders_the_retrieved_products(rated, sort):
    api = APIClient()
    relevance = api.get("/api/search/", {"q": "wool coat winter", "mode": "keyword"}).json()["results"]
    hits = api.get("/api/search/", {"q": "wool coat winter", "mode": "keyword", "sort": sort}).json()["results"]
    assert sorted(hit["id"] for hit in hits) == sorted(hit["id"] for hit in relevance)  # the same products, reordered
    key = {
        "price_asc": lambda h: float(h["price"]),
        "price_desc": lambda h: -float(h["price"]),
        "rating": lambda h: -(h["rating"] or 0),
        "reviews": lambda h: -h["review_count"],
    }[sort]
    assert [key(hit) for hit in hits] == sorted(key(hit) for hit in hits)
    if sort == "rating":
        assert [hit["id"] for hit in hits[:2]] == [rated["coat0"], rated["coat1"]]  # unrated products come last


def test_an_unknown_sort_is_a_400_naming_the_field(rated):
    response = APIClient().get("/api/search/", {"q": "coat", "sort": "cheapest"})
    assert response.status_code == 400 and response.json()["detail"].startswith("sort:")


def test_review_aware_hits_quote_the_matching_review_sentence(rated):
    body = APIClient().get("/api/search/", {"q": "coat that itches", "reviews": "true"}).json()
    quoted = {hit["id"]: hit["review_sentence"] for hit in body["results"] if hit["review_sentence"]}
    assert quoted[rated["coat1"]] == "The wool coat itches."  # the sentence sharing most of the query's words
    assert all(hit["review_sentence"] is None for hit in body["results"] if hit["review_count"] == 0)


def test_product_page_shows_facts_and_star_counts(rated, client):
    page = client.get(f"/products/{rated['coat0']}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<h1>Wool coat for winter, warm and heavy, style A</h1>" in html and "Coats" in html and "10.00" in html
    assert "4.0</strong> out of 5 from 2 reviews" in html
    assert 'id="add-to-cart"' in html and 'id="ask"' in html and "shopsearch/product.js" in html


def test_unknown_product_is_a_plain_404_page(rated, client, settings):
    settings.DEBUG = True  # even in development, not Django's technical 404 page
    page = client.get("/products/no-such-product/")
    assert page.status_code == 404
    html = page.content.decode()
    assert "Product not found" in html and "no-such-product" in html and "URLconf" not in html


def test_storefront_turns_review_matching_on_when_the_shop_has_reviews(rated, client):
    assert 'data-reviews="true"' in client.get("/").content.decode()


@pytest.fixture
def dated(clusters, run_on_commit):
    """coat0 with five reviews, four about its size, dated across two months (hand-computed: June 2 reviews, mean
    4.5 stars; July 3, mean 2.67), and its sentences analysed."""
    from datetime import datetime

    from catalog.models import Product

    coat = Product.objects.get(pk=clusters["coat0"])
    rows = [
        ("2026-06-03", 5, "Warm and lovely. It runs small, I had to size up."),
        ("2026-06-20", 4, "It runs small. Order a size up."),
        ("2026-07-01", 2, "Way too tight, it runs small."),
        ("2026-07-09", 5, "True to size and warm."),
        ("2026-07-30", 1, "Scratchy wool, the seams split."),
    ]

    def create():
        for n, (day, rating, text) in enumerate(rows):
            review = Review.objects.create(external_id=f"d{n}", product=coat, text=text, rating=rating)
            review.created = datetime.fromisoformat(day).replace(tzinfo=UTC)
            review.save()

    run_on_commit(create)
    return clusters


def test_product_page_shows_the_monthly_trend_and_which_way_the_size_errs(dated, client):
    html = client.get(f"/products/{dated['coat0']}/").content.decode()
    assert 'id="trend"' in html
    trend = html[html.index('id="trend"') : html.index("</table>", html.index('id="trend"'))]
    assert (
        trend.index("2026-06") < trend.index("4.5 out of 5") < trend.index("2026-07") < trend.index("2.7 out of 5")
    )  # oldest first
    verdict = " ".join(
        html[html.index('class="fit-verdict"') : html.index("</p>", html.index('class="fit-verdict"'))].split()
    )
    assert (
        "Runs small</strong>, going by the 4 reviews that say how the size runs: "
        "3 runs small, 1 true to size, 0 runs large." in verdict
    )
    assert 'id="aspects"' in html and "size/fit" in html


def test_one_month_of_reviews_is_no_trend(rated, client):
    assert 'id="trend"' not in client.get(f"/products/{rated['coat0']}/").content.decode()  # both reviews written today


def test_the_cached_sentiment_answer_follows_every_edit(dated, run_on_commit):
    from shopsearch import review_insights, spaces

    space = spaces.active_space()
    before = review_insights.product_sentiment(space, dated["coat0"])
    assert review_insights.product_sentiment(space, dated["coat0"]) == before  # read from the cache
    review = Review.objects.get(external_id="d3")
    review.text = "Runs small, I had to size up."
    run_on_commit(review.save)
    after = review_insights.product_sentiment(space, dated["coat0"])
    assert (before["fit"]["reviews"]["small"], after["fit"]["reviews"]["small"]) == (3, 4)


def test_shoppers_also_viewed_comes_from_sessions_that_viewed_both(rated, client):
    from shopsearch.models import Event

    views = {"s1": ["coat0", "coat1", "dress0"], "s2": ["coat0", "coat1"], "s3": ["coat0", "dress1"], "s4": ["dress1"]}
    Event.objects.bulk_create(
        [
            Event(type="view", session_id=session, product_id=rated[key])
            for session, keys in views.items()
            for key in keys
        ]
    )
    html = client.get(f"/products/{rated['coat0']}/").content.decode()
    shown = html[html.index('id="also-viewed"') :]
    assert "Wool coat for winter, warm and heavy, style B" in shown  # coat1: two sessions viewed both
    assert "Linen dress" not in shown  # dress0 and dress1: one co-viewing session each


def test_the_sentiment_api_says_which_way_the_size_errs(dated):
    body = APIClient().get(f"/api/products/{dated['coat0']}/sentiment/", {"aspect": "size/fit"}).json()
    assert body["fit"]["verdict"] == "small" and body["fit"]["reviews"] == {"small": 3, "true_to_size": 1, "large": 0}
    assert [aspect["name"] for aspect in body["aspects"]] == ["size/fit"]
    response = APIClient().get(f"/api/products/{dated['coat0']}/sentiment/", {"aspect": "sleeve length"})
    assert response.status_code == 400 and response.json()["detail"].startswith("aspect:")
