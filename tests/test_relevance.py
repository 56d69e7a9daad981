"""Query-adaptive fusion, the honest "no match", typo correction and query understanding, through the API on the
real stack (real model, PostgreSQL): the fusion weights in explain follow what the query gives, a nonsense query is
marked `none`, a named product `good`; a misspelt description word is corrected and shown, "under 50" is a price
filter that no longer matches product #50, a named category is boosted. Hand-written products
(tests/data/relevance_tiny) among real demo items, as in test_hybrid_search."""

from __future__ import annotations

import math

import pytest
from rest_framework.test import APIClient

from catalog.models import Category, Product
from shopsearch import indexing, spaces, vocabulary
from shopsearch import search as search_module
from shopsearch.models import Word

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
    exact_weights, paraphrase_weights = (
        body["results"][0]["explain"]["fusion_weights"] for body in (exact, paraphrase)
    )
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
    # no product text has "coat" or "winter": with no keyword hit the estimate rests on the semantic evidence, and
    # the outerwear the model finds is a match, not "none"
    coat = search(q="coat for winter", explain="true")
    assert coat["results"][0]["explain"]["keyword_rank"] is None
    assert coat["results"][0]["category"] == "Jackets" and coat["match"] in ("weak", "good")
    assert coat["relevance"] > nonsense["relevance"]
    # keyword mode makes no estimate; where nothing matched at all it still says so
    assert search(q="espresso", mode="keyword")["match"] is None
    assert search(q="xqzvwk", mode="keyword")["match"] == "none"


def test_adaptive_fusion_by_hand(settings):
    """Weights 1 + 2 × title_coverage (keyword) and 1 (semantic); logit = -1 + weights · normalised scores."""
    settings.SHOPSEARCH = {
        **settings.SHOPSEARCH,
        "FUSION": "adaptive",
        "FUSION_MODEL": {"intercept": -1.0, "keyword": 1.0, "keyword*title_coverage": 2.0, "semantic": 1.0},
    }
    evidence = {"title_coverage": 0.5}
    assert search_module.fusion_weights(evidence) == {"keyword": 2.0, "semantic": 1.0}
    fused = dict(search_module.fuse([(1, 2.0), (2, 1.0), (3, 0.0)], [(2, 0.9), (4, 0.5)], evidence=evidence))
    logits = {1: -1 + 2.0, 2: -1 + 2.0 * 0.5 + 1.0, 3: -1.0, 4: -1.0}
    assert fused == pytest.approx({doc: 1 / (1 + math.exp(-logit)) for doc, logit in logits.items()})


@pytest.mark.model
def test_typos_prices_and_categories_are_understood(catalogue):
    # "reinforced" is only in the description of the merino socks (p4); one letter swapped, it is corrected and shown
    typo = search(q="reinforsed socks", explain="true")
    assert typo["corrected_query"] == "reinforced socks"
    assert typo["results"][0]["id"] == catalogue["p4"]
    assert typo["results"][0]["explain"]["corrections"] == {"reinforsed": "reinforced"}
    assert search(q="reinforced socks")["corrected_query"] is None  # a word the catalogue has is never changed
    assert search(q="reinforsed socks", understand="false")["corrected_query"] is None

    # "under 50" is a price filter, and no longer a word: product #50 (priced within it) is not matched by it
    intimate = Category.objects.get_or_create(name="Intimate")[0]
    numbered = Product.objects.create(
        external_id="n50",
        title="Intimates #50",
        description="Intimates from the Intimate department.",
        category=intimate,
        price=30,
    )
    indexing.index_objects("product", [numbered.pk])
    assert search(q="intimates 50", mode="keyword")["results"][0]["id"] == str(numbered.pk)  # as a word it would match
    priced = search(q="socks under 50", mode="keyword")
    assert priced["understood"]["max_price"] == "50.00" and priced["understood"]["removed"] == ["under 50"]
    assert priced["results"] and str(numbered.pk) not in [hit["id"] for hit in priced["results"]]
    assert all(float(hit["price"]) <= 50 for hit in search(q="socks under 50", page_size=100)["results"])
    assert search(q="socks under 50", understand="false")["understood"] is None

    # a query naming a category boosts that category's products (odds doubled), never filters the others out
    plain = search(q="home lamp", explain="true", understand="false", page_size=50)
    understood = search(q="home lamp", explain="true", page_size=50)
    assert understood["understood"]["categories"] == ["Home"]
    assert understood["results"][0]["explain"]["understood"]["categories"] == ["Home"]
    before = {hit["id"]: (hit["category"], hit["score"]) for hit in plain["results"]}
    after = {hit["id"]: hit["score"] for hit in understood["results"]}
    common = [doc for doc in before if doc in after]
    assert any(before[doc][0] != "Home" for doc in common), "the other categories stay in the results"
    for doc in common:
        category, score = before[doc]
        expected = score if category != "Home" else 2 * score / (1 - score) / (1 + 2 * score / (1 - score))
        assert after[doc] == pytest.approx(expected, rel=1e-6)


def test_edit_distance_and_allowed_edits():
    assert vocabulary.edit_distance("jaket", "jacket") == 1
    assert vocabulary.edit_distance("jaens", "jeans") == 1  # a swap of neighbours is one edit
    assert vocabulary.edit_distance("kitten", "sitting") == 3
    assert [vocabulary.allowed_edits(n) for n in (4, 5, 8, 9)] == [0, 1, 1, 2]


def test_the_vocabulary_follows_indexing(fake_model):
    """Each indexing batch moves the word counts by what it changed; reindex recounts them from the documents."""

    def documents(word: str) -> int | None:
        return Word.objects.filter(collection="", word=word).values_list("documents", flat=True).first()

    first = Product.objects.create(
        external_id="w1", title="Zanzibar quilted gilet", description="Two pockets.", price=10
    )
    second = Product.objects.create(external_id="w2", title="Zanzibar rain hat", description="Waxed cotton.", price=12)
    indexing.index_objects("product", [first.pk, second.pk])
    assert (documents("zanzibar"), documents("gilet"), documents("waxed")) == (2, 1, 1)
    first.title = "Quilted gilet"
    first.save()
    indexing.index_objects("product", [first.pk])
    assert (documents("zanzibar"), documents("gilet")) == (1, 1)
    deleted = second.pk
    second.delete()
    indexing.index_objects("product", [deleted])
    assert (documents("zanzibar"), documents("waxed")) == (None, None)
    assert search_module.search_products("quiltd gilet", mode="keyword", log=False).corrected_query == "quilted gilet"
    # "gillet" is 2 edits from the only form products have, "gilets", but 1 from its stem "gilet": corrected to it
    first.title = "Quilted gilets"
    first.save()
    indexing.index_objects("product", [first.pk])
    assert (documents("gilet"), documents("gilets")) == (None, 1)
    assert vocabulary.correct("quilted gillet", "").corrections == {"gillet": "gilets"}
    # "blouce" is 2 edits from "blouses" and from its stem "blous"; stem to stem, "blouc" to "blous", it is 1
    blouses = Product.objects.create(external_id="w3", title="Silk blouses", description="Ivory.", price=30)
    indexing.index_objects("product", [blouses.pk])
    assert vocabulary.correct("silk blouce", "").corrections == {"blouce": "blouses"}
    Word.objects.all().delete()  # lost, say; reindex recounts
    indexing.reindex(spaces.ensure_active_space(), kinds=("product",))
    assert documents("gilets") == 1
