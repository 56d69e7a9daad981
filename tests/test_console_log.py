"""The search log: a shop search is buffered in Redis and moved into SearchLog in batches; retention deletes old
entries; evaluation collections and admin searches are not logged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from shopsearch import analytics, search
from shopsearch.models import SearchLog

from . import console_catalogue

pytestmark = pytest.mark.django_db


@pytest.fixture
def clusters(fake_model):
    return console_catalogue.clusters()


@pytest.fixture(autouse=True)
def empty_buffer():
    analytics._client().delete(analytics._buffer_key())
    yield
    analytics._client().delete(analytics._buffer_key())


def test_normalize_lowercases_strips_accents_and_spaces():
    assert analytics.normalize("  Robe   d'ÉTÉ  ") == "robe d'ete"


def test_a_search_is_logged_once_with_its_facts(clusters, client):
    response = client.get("/api/search/", {"q": "Wool COAT", "mode": "keyword", "category": "Coats"})
    assert response.status_code == 200
    assert SearchLog.objects.count() == 0  # buffered, not written in the request
    assert analytics.flush_search_log() == 1
    entry = SearchLog.objects.get()
    assert (entry.query, entry.normalized, entry.mode) == ("Wool COAT", "wool coat", "keyword")
    assert entry.filters == {"category": "Coats"}
    assert entry.results == response.json()["total"] == 7  # six coats and the bridge
    assert entry.latency_ms > 0
    assert not hasattr(entry, "ip") and "ip" not in [f.name for f in SearchLog._meta.fields]


def test_later_pages_admin_and_unlogged_searches_are_not_logged(clusters):
    search.search_products("wool", "keyword", page=2, page_size=2)
    search.search_products("wool", "keyword", log=False)
    search.search_products("wool", "keyword", session_id="s-1")
    assert analytics.flush_search_log() == 1
    assert SearchLog.objects.get().session_id == "s-1"


def test_a_full_batch_is_flushed_by_a_task(clusters, settings):
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "SEARCH_LOG_BATCH": 3}
    for query in ("wool", "linen", "dress"):
        search.search_products(query, "keyword")
    assert sorted(SearchLog.objects.values_list("query", flat=True)) == [
        "dress",
        "linen",
        "wool",
    ]  # the task ran (eager)


def test_retention_deletes_only_old_entries(settings):
    now = timezone.now()
    SearchLog.objects.bulk_create(
        [
            SearchLog(
                query="old",
                normalized="old",
                mode="hybrid",
                results=1,
                latency_ms=1,
                created_at=now - timedelta(days=91),
            ),
            SearchLog(
                query="new",
                normalized="new",
                mode="hybrid",
                results=1,
                latency_ms=1,
                created_at=now - timedelta(days=89),
            ),
        ]
    )
    assert analytics.delete_old_searches() == 1
    assert list(SearchLog.objects.values_list("query", flat=True)) == ["new"]
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "SEARCH_LOG_RETENTION_DAYS": None}
    assert analytics.delete_old_searches() == 0
