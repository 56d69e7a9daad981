"""The keyword IDF reads document frequencies that indexing keeps (vocabulary.py: `Lexeme`, `ProductTotal`) instead
of counting them per query: after a bulk load and real edits (a save with changed text, a save that changes no
text, a delete, a create) the tables hold exactly what a fresh count gives, and keyword search ranks exactly as the
counting SQL it replaced (kept here as the oracle) ranks. CrowdFlower dev products and queries from ../shared/data,
indexed as the shop's own products."""

from __future__ import annotations

import importlib
import json
import threading
import time

import pytest
from celery import current_app
from django.db import connection, transaction

from catalog.models import Product
from shopsearch import indexing, search, spaces, tasks, vocabulary
from shopsearch.models import SHOP_COLLECTION, Lexeme, ProductTotal

from .conftest import SHARED_DATA

pytestmark = pytest.mark.django_db
FOLDER = SHARED_DATA / "crowdflower_dev"
PRODUCTS = 500  # the products judged for the first queries, in qrels order: every query finds some of them

# What keyword_matches counted per query before the tables existed: the oracle, with the same parameters.
COUNTED_TOTAL = "SELECT count(*) AS n FROM shopsearch_document WHERE collection = %s AND kind = 'product'"
COUNTED_DOCUMENTS = (
    "SELECT l.tsq, l.title_tsq, f.df FROM lexemes l, LATERAL (SELECT count(*) AS df FROM shopsearch_document d "
    "WHERE d.collection = %s AND d.kind = 'product' AND d.search_vector @@ l.tsq) f"
)


def crowdflower() -> tuple[list[dict], list[str], list[str]]:
    """(products judged for the first queries, the other products, every query text)."""
    if not (FOLDER / "products.jsonl").exists():
        pytest.skip(f"{FOLDER} is missing: the CrowdFlower dev set is read from ../shared/data, never copied")
    rows = [json.loads(line) for line in (FOLDER / "products.jsonl").read_text().splitlines()]
    judged = list(dict.fromkeys(line.split()[2] for line in (FOLDER / "qrels.txt").read_text().splitlines()))
    wanted = set(judged[:PRODUCTS])
    queries = [line.split("\t", 1)[1] for line in (FOLDER / "queries.tsv").read_text().splitlines() if "\t" in line]
    return [r for r in rows if r["id"] in wanted], [r for r in rows if r["id"] not in wanted], queries


def product(row: dict) -> Product:
    return Product(external_id=row["id"], title=row["title"][:300], description=row["description"], price=10)


def counted(terms: vocabulary.Terms) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT t.term, count(*) FROM ({terms.source} WHERE d.collection = %s AND d.kind = 'product') t "
            "GROUP BY t.term",
            [SHOP_COLLECTION],
        )
        return dict(cursor.fetchall())


def kept(terms: vocabulary.Terms) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {terms.column}, documents FROM {terms.table} WHERE collection = %s", [SHOP_COLLECTION])
        return dict(cursor.fetchall())


def assert_current() -> None:
    """Every kept count is a fresh count of the documents as they stand (a term no product has left has no row)."""
    for terms in vocabulary.TERMS:
        assert kept(terms) == counted(terms), terms.table
    products = Product.objects.count()
    assert ProductTotal.objects.get(collection=SHOP_COLLECTION).products == products


def ranked(queries: list[str]) -> list[list[tuple]]:
    return [
        [(m.id, m.score, m.title_share) for m in search.keyword_matches(text, search.Filters(), 100)]
        for text in queries
    ]


def test_kept_frequencies_are_a_fresh_count_and_rank_as_counting_did(fake_model, run_on_commit, monkeypatch):
    loaded, others, queries = crowdflower()
    Product.objects.bulk_create([product(row) for row in loaded])
    indexing.reindex(spaces.ensure_active_space(), kinds=("product",), batch_size=200)  # recounts at its end
    assert_current()

    edited, deleted = Product.objects.order_by("pk")[:2]
    before = kept(vocabulary.LEXEMES)
    edited.title, edited.description = others[0]["title"][:300], others[0]["description"]
    run_on_commit(edited.save)  # changed text: its old lexemes leave, the new ones come
    edited.in_stock = False
    run_on_commit(edited.save)  # no text changed: nothing to apply
    own = set(vocabulary.counts(SHOP_COLLECTION, [deleted.pk]).terms[vocabulary.LEXEMES])
    run_on_commit(deleted.delete)
    created = product(others[1])
    run_on_commit(created.save)
    assert_current()
    after = kept(vocabulary.LEXEMES)
    assert len(after) > 1000 and after != before
    assert any(before[lexeme] == 1 and lexeme not in after for lexeme in own)  # the deleted one's own words left

    texts = [*queries, edited.title, created.title, deleted.title]
    read = ranked(texts)
    monkeypatch.setattr(search, "PRODUCT_TOTAL", COUNTED_TOTAL)
    monkeypatch.setattr(search, "LEXEME_DOCUMENTS", COUNTED_DOCUMENTS)
    assert read == ranked(texts)
    assert sum(map(len, read)) > len(texts) * 10  # the queries find products: the comparison is not of empty lists


def test_the_migration_fills_what_rebuild_counts(fake_model):
    loaded, _, _ = crowdflower()
    Product.objects.bulk_create([product(row) for row in loaded[:100]])
    indexing.reindex(spaces.ensure_active_space(), kinds=("product",))
    rebuilt = kept(vocabulary.LEXEMES), ProductTotal.objects.get(collection=SHOP_COLLECTION).products
    Lexeme.objects.all().delete()
    ProductTotal.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(importlib.import_module("shopsearch.migrations.0017_document_frequencies").FILL)
    assert (kept(vocabulary.LEXEMES), ProductTotal.objects.get(collection=SHOP_COLLECTION).products) == rebuilt


def test_reindex_on_workers_recounts_what_it_synced(fake_model, monkeypatch):
    """`reindex --async` writes the documents itself, outside the workers' batches: it recounts after that sync.
    The batches run in this process here (eager tasks; the worker's ping answered)."""
    loaded, _, _ = crowdflower()
    Product.objects.bulk_create([product(row) for row in loaded[:100]])  # no signals: reindex must find them
    monkeypatch.setattr(current_app.control, "ping", lambda timeout: [{"worker@test": {"ok": "pong"}}])
    summary = tasks.reindex_on_workers(spaces.ensure_active_space(), ("product",), batch_size=40)
    assert summary.embedded == 100 and summary.failed == 0
    assert_current()


@pytest.mark.django_db(transaction=True)
def test_a_rebuild_waits_for_the_batch_that_is_applying_its_difference(fake_model):
    """Two connections: a batch has applied its difference and not yet committed; a rebuild started then waits on
    the collection's row (vocabulary._lock_collection) and counts after the commit, so nothing is lost or doubled."""
    loaded, others, _ = crowdflower()
    Product.objects.bulk_create([product(row) for row in loaded[:60]])
    indexing.reindex(spaces.ensure_active_space(), kinds=("product",))
    edited = Product.objects.order_by("pk").first()
    Product.objects.filter(pk=edited.pk).update(title=others[0]["title"][:300], description=others[0]["description"])
    failures: list[BaseException] = []

    def rebuild() -> None:
        try:
            vocabulary.rebuild(SHOP_COLLECTION)
        except BaseException as exc:  # reported to the test below
            failures.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=rebuild)
    with transaction.atomic():
        indexing.index_objects("product", [edited.pk])  # its difference applied, the commit still to come
        thread.start()
        with connection.cursor() as cursor:
            for _ in range(200):
                cursor.execute("SELECT pg_stat_clear_snapshot()")  # else the view holds still within a transaction
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
                )
                if cursor.fetchone()[0]:
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the rebuild did not wait for the batch")
    thread.join(timeout=60)
    assert not thread.is_alive() and not failures
    assert_current()
