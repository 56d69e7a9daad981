"""Merchandising rules and synonyms change the ranking as configured and say so in explain; a change is seen by
the next search (cache invalidated); with no rules a search is exactly the unwrapped one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from shopsearch import rules, search
from shopsearch.models import Rule, Synonym

from . import console_catalogue

pytestmark = pytest.mark.django_db


@pytest.fixture
def clusters(fake_model):
    return console_catalogue.clusters()


def ids(query, mode="keyword", **options):
    return [hit.id for hit in search.search_products(query, mode, log=False, **options).hits]


def test_no_rules_leave_search_exactly_as_the_unwrapped_function(clusters):
    unwrapped = search.search_products.__wrapped__.__wrapped__
    for mode in ("keyword", "semantic", "hybrid"):
        wrapped = search.search_products("wool coat", mode, explain=True, log=False)
        raw = unwrapped("wool coat", mode, explain=True)
        assert [(h.id, h.score, h.explain) for h in wrapped.hits] == [(h.id, h.score, h.explain) for h in raw.hits]
        assert (wrapped.total, wrapped.has_next) == (raw.total, raw.has_next)


def test_one_way_synonym_expands_only_its_term(clusters):
    assert ids("overcoat") == []
    Synonym.objects.create(kind=Synonym.Kind.ONE_WAY, term="Overcoat", synonyms="wool coat")
    found = ids("overcoat", explain=True)
    assert set(found) == {clusters[f"coat{n}"] for n in range(6)} | {clusters["bridge"]}
    page = search.search_products("overcoat", "keyword", explain=True, log=False)
    assert page.hits[0].explain["synonyms"] == ["wool coat"]
    assert "synonyms" not in (search.search_products("wool coat", "keyword", explain=True, log=False).hits[0].explain)


def test_two_way_group_finds_each_member_from_any_other(clusters):
    Synonym.objects.create(kind=Synonym.Kind.GROUP, synonyms="frock, dress")
    dresses = {clusters[f"dress{n}"] for n in range(6)}
    assert dresses <= set(ids("frock"))
    Synonym.objects.create(kind=Synonym.Kind.GROUP, synonyms="parka, coat")
    assert {clusters[f"coat{n}"] for n in range(6)} <= set(ids("parka"))


def test_synonyms_match_whole_words_in_a_set_larger_than_re_s_pattern_cache():
    # 600 groups (re caches 512 patterns); triggers that are parts of one another, spaced and hyphenated forms
    Synonym.objects.bulk_create(
        [Synonym(kind=Synonym.Kind.GROUP, synonyms=f"item{n}, article{n}") for n in range(600)]
        + [
            Synonym(kind=Synonym.Kind.GROUP, synonyms="back pack, backpack, rucksack"),
            Synonym(kind=Synonym.Kind.GROUP, synonyms="t-shirt, tee"),
            Synonym(kind=Synonym.Kind.ONE_WAY, term="pack", synonyms="bundle"),
        ]
    )
    rules.invalidate()
    snap = rules.snapshot()
    assert rules.synonyms_for("item599 and item1", snap) == ["article1", "article599"]  # in the set's order
    assert rules.synonyms_for("item5990", snap) == []  # not a whole word
    assert rules.synonyms_for("black back pack", snap) == ["backpack", "rucksack", "bundle"]
    assert rules.synonyms_for("backpacks", snap) == []
    assert rules.synonyms_for("red t-shirt", snap) == ["tee"] and rules.synonyms_for("tee", snap) == ["t-shirt"]
    assert rules.synonyms_for("shirt", snap) == []


def test_pin_puts_the_product_at_its_position_even_if_not_retrieved(clusters):
    before = ids("wool coat")
    Rule.objects.create(query="wool coat", action=Rule.Action.PIN, product_id=clusters["dress3"], position=2)
    page = search.search_products("Wool  Coat", "keyword", explain=True, log=False)
    assert [h.id for h in page.hits][:3] == [before[0], clusters["dress3"], before[1]]
    assert page.hits[1].explain["rules"][0].endswith("pinned at 2 (query is exactly 'wool coat')")
    assert page.total == len(before) + 1


def test_hide_removes_and_boost_and_bury_move(clusters):
    before = ids("linen dress")
    Rule.objects.create(query="dress", match=Rule.Match.CONTAINS, action=Rule.Action.HIDE, product_id=before[0])
    assert ids("linen dress") == before[1:]
    Rule.objects.create(
        query="dress", match=Rule.Match.CONTAINS, action=Rule.Action.BOOST, product_id=before[-1], weight=10
    )
    Rule.objects.create(
        query="dress", match=Rule.Match.CONTAINS, action=Rule.Action.BURY, product_id=before[1], weight=10
    )
    page = search.search_products("linen dress", "keyword", explain=True, log=False)
    after = [h.id for h in page.hits]
    assert after[0] == before[-1] and after[-1] == before[1] and before[0] not in after
    assert "boosted ×11" in page.hits[0].explain["rules"][0] and "buried ÷11" in page.hits[-1].explain["rules"][0]
    unwrapped = search.search_products.__wrapped__.__wrapped__
    assert ids("summer linen") == [
        h.id for h in unwrapped("summer linen", "keyword").hits
    ]  # no rule matches this query


def test_rules_respect_their_dates_and_the_cache_sees_edits(clusters):
    before = ids("wool coat")
    rule = Rule.objects.create(
        query="wool coat", action=Rule.Action.HIDE, product_id=before[0], starts_at=timezone.now() + timedelta(days=1)
    )
    assert ids("wool coat") == before  # not started yet
    rule.starts_at = None
    rule.save()
    assert before[0] not in ids("wool coat")
    rule.delete()
    assert ids("wool coat") == before


def test_a_pin_outside_the_filters_is_not_added(clusters):
    Rule.objects.create(query="wool coat", action=Rule.Action.PIN, product_id=clusters["dress3"], position=1)
    assert clusters["dress3"] not in ids("wool coat", filters=search.Filters(category="Coats"))
    assert rules.snapshot().rules


def test_the_search_api_shows_rules_and_synonyms_in_explain(clusters, client):
    Synonym.objects.create(kind=Synonym.Kind.ONE_WAY, term="overcoat", synonyms="wool coat")
    Rule.objects.create(query="overcoat", action=Rule.Action.PIN, product_id=clusters["dress3"], position=1)
    body = client.get("/api/search/", {"q": "overcoat", "mode": "keyword", "explain": "true"}).json()
    first = body["results"][0]
    assert first["id"] == clusters["dress3"]
    assert first["explain"]["rules"] == [f"rule #{Rule.objects.get().pk}: pinned at 1 (query is exactly 'overcoat')"]
    assert first["explain"]["synonyms"] == ["wool coat"]
    assert body["total"] == 8  # the seven coats the synonym found and the pinned dress


def test_the_admin_refuses_incomplete_rules_naming_the_field(admin_client):
    response = admin_client.post(
        "/admin/shopsearch/rule/add/",
        {"query": "coat", "match": "exact", "action": "pin", "product_id": "1", "weight": "1"},
    )
    assert response.status_code == 200 and "A pin needs the 1-based position" in response.content.decode()
    response = admin_client.post("/admin/shopsearch/synonym/add/", {"kind": "one_way", "term": "", "synonyms": "coat"})
    assert "A one-way synonym needs the term" in response.content.decode()
    assert not Rule.objects.exists() and not Synonym.objects.exists()
    response = admin_client.post(
        "/admin/shopsearch/synonym/add/", {"kind": "group", "synonyms": "tee, t-shirt", "enabled": "on"}
    )
    assert response.status_code == 302 and Synonym.objects.get().synonyms == "tee, t-shirt"
