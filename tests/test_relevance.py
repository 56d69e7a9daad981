"""Query-adaptive fusion and the honest "no match", through the API on the real stack (real model, PostgreSQL):
the fusion weights in explain follow what the query gives, a nonsense query is marked `none`, a named product `good`.
Hand-written products (tests/data/relevance_tiny) among real demo items, as in test_hybrid_search."""
from __future__ import annotations

import math

import pytest
from rest_framework.test import APIClient

from shopsearch import search as search_module

from .test_hybrid_search import load_catalogue

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue(real_model):
    return load_catalogue(demo_limit=150)


def search(**params) -> dict:
    response = APIClient().get("/api/search/", params)
    assert response.status_code == 200, response.json()
    return response.json()


@pytest.mark.model
def test_fusion_weights_follow_the_query_and_match_is_honest(catalogue):
    exact = search(q="merino wool hiking socks", explain="true")
    paraphrase = search(q="warm woolen stockings for trekking", explain="true")
    exact_weights, paraphrase_weights = (body["results"][0]["explain"]["fusion_weights"] for body in (exact, paraphrase))
    assert set(exact_weights) == {"keyword", "semantic"}
    # every word of the first query is in a title: the keyword list gets more weight there than on the paraphrase,
    # whose words no title has; on the paraphrase the semantic list outweighs the keyword list
    assert exact_weights["keyword"] > paraphrase_weights["keyword"]
    assert paraphrase_weights["semantic"] > paraphrase_weights["keyword"]
    assert exact["results"][0]["id"] == catalogue["p4"]
    assert catalogue["p4"] in [hit["id"] for hit in paraphrase["results"][:3]]
    for body in (exact, paraphrase):
        hit = body["results"][0]
        assert hit["explain"]["fused_score"] == pytest.approx(hit["score"]) == pytest.approx(body["relevance"])
        assert 0 < body["relevance"] < 1
    # a named product is a good match; nonsense is none (one test: indexing with the real model is most of its time)
    named = search(q="espresso machine with milk frother")
    assert named["match"] == "good" and named["results"][0]["id"] == catalogue["p1"]
    nonsense = search(q="xqzvwk")
    assert nonsense["match"] == "none" and nonsense["relevance"] < named["relevance"]
    # keyword mode makes no estimate; where nothing matched at all it still says so
    assert search(q="espresso", mode="keyword")["match"] is None
    assert search(q="xqzvwk", mode="keyword")["match"] == "none"


def test_adaptive_fusion_by_hand(settings):
    """Weights 1 + 2 × title_coverage (keyword) and 1 (semantic); logit = -1 + weights · normalised scores."""
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "FUSION": "adaptive",
                           "FUSION_MODEL": {"intercept": -1.0, "keyword": 1.0, "keyword*title_coverage": 2.0, "semantic": 1.0}}
    evidence = {"title_coverage": 0.5}
    assert search_module.fusion_weights(evidence) == {"keyword": 2.0, "semantic": 1.0}
    fused = dict(search_module.fuse([(1, 2.0), (2, 1.0), (3, 0.0)], [(2, 0.9), (4, 0.5)], evidence=evidence))
    logits = {1: -1 + 2.0, 2: -1 + 2.0 * 0.5 + 1.0, 3: -1.0, 4: -1.0}
    assert fused == pytest.approx({doc: 1 / (1 + math.exp(-logit)) for doc, logit in logits.items()})
