"""GET /api/suggest/: past queries that found something, by frequency and recency, prefix before typo matches;
product titles by word prefix or a typo of it; bad input is a 400 naming the field."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from shopsearch.models import SearchLog

from . import console_catalogue

pytestmark = pytest.mark.django_db


@pytest.fixture
def clusters(fake_model):
    return console_catalogue.clusters()


def log(query: str, results: int, days_ago: float, times: int = 1):
    at = timezone.now() - timedelta(days=days_ago)
    SearchLog.objects.bulk_create(
        [SearchLog(query=query, normalized=query, mode="hybrid", results=results, latency_ms=1, created_at=at)] * times
    )


def test_queries_rank_by_frequency_and_recency_and_zero_result_ones_are_left_out(clusters, client):
    log("wool coat", 5, 0, times=3)  # weight 3
    log("wool scarf", 5, 7, times=4)  # one half-life old: weight 2
    log("wool hat", 5, 0)  # weight 1
    log("wool sock", 0, 0, times=9)  # found nothing: never suggested
    log("linen dress", 5, 0, times=9)  # neither a prefix nor a typo of it
    body = client.get("/api/suggest/", {"q": "Wool"}).json()
    assert [q["query"] for q in body["queries"]] == ["wool coat", "wool scarf", "wool hat"]
    weights = [q["weight"] for q in body["queries"]]
    assert weights == pytest.approx([3, 2, 1], abs=1e-3)
    typo = client.get("/api/suggest/", {"q": "wol"}).json()  # word_similarity("wol", "wool coat") = 0.5
    assert [q["query"] for q in typo["queries"]] == ["wool coat", "wool scarf", "wool hat"]


def test_titles_match_by_word_prefix_and_by_typo(clusters, client):
    body = client.get("/api/suggest/", {"q": "lin"}).json()
    assert {p["title"] for p in body["products"]} >= {
        f"Linen dress for summer, light and airy, style {n}" for n in "ABCDEF"
    }
    typo = client.get(
        "/api/suggest/", {"q": "drss", "limit": 3}
    ).json()  # word_similarity("drss", "... dress ...") = 0.4
    assert len(typo["products"]) == 3 and all("dress" in p["title"].lower() for p in typo["products"])


def test_bad_input_is_a_400_naming_the_field(client):
    for params, field in (({}, "q"), ({"q": "a", "limit": "0"}, "limit"), ({"q": "x" * 101}, "q")):
        response = client.get("/api/suggest/", params)
        assert response.status_code == 400 and list(response.json()["errors"]) == [field], params
