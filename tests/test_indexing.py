"""The indexing pipeline with the fake encoder: saves, edits, deletes, reindex, spaces and switch-over."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from catalog.models import Product
from shopsearch import exceptions, indexing, search, spaces
from shopsearch.models import Document, Embedding, EmbeddingSpace
from shopsearch.registry import ProductDocument

from .conftest import FAKE_MODEL, demo_rows, load_products

pytestmark = pytest.mark.django_db


@pytest.fixture
def products(fake_model, run_on_commit):
    return run_on_commit(load_products, demo_rows("demo_products.jsonl.gz", limit=30))


def vector_of(product: Product, space: EmbeddingSpace | None = None) -> list[float]:
    space = space or spaces.active_space()
    return list(
        Embedding.objects.get(space=space, document__kind="product", document__object_id=str(product.pk)).vector
    )


def test_saving_a_product_embeds_it_in_the_active_space(products):
    space = spaces.active_space()
    assert space.model_identity == FAKE_MODEL and space.dimensions == 64
    assert Embedding.objects.filter(space=space, kind="product").count() == len(products)
    document = Document.objects.get(kind="product", object_id=str(products[0].pk))
    assert document.title == products[0].title and document.category == products[0].category.name


def test_changing_the_text_changes_the_vector_and_unchanged_text_is_skipped(products, run_on_commit):
    product = products[0]
    before = vector_of(product)
    stamp = Embedding.objects.get(document__object_id=str(product.pk), kind="product").updated_at
    product.in_stock = False  # not part of the embedded text
    run_on_commit(product.save)
    assert Embedding.objects.get(document__object_id=str(product.pk), kind="product").updated_at == stamp
    assert Document.objects.get(kind="product", object_id=str(product.pk)).in_stock is False
    product.title = "Wool winter coat with hood"
    run_on_commit(product.save)
    assert vector_of(product) != before


def test_deleting_a_product_removes_its_vectors(products, run_on_commit):
    product = products[0]
    pk = str(product.pk)
    run_on_commit(product.delete)
    assert not Document.objects.filter(kind="product", object_id=pk).exists()
    assert not Embedding.objects.filter(document__object_id=pk, kind="product").exists()


def test_a_text_already_embedded_in_the_space_is_copied_not_encoded_again(products, fake_model, monkeypatch):
    from shopsearch.registry import ProductDocument

    encoded: list[str] = []
    real_encode = fake_model.encode
    monkeypatch.setattr(fake_model, "encode", lambda texts: encoded.extend(texts) or real_encode(texts))
    shop = Document.objects.get(kind="product", object_id=str(products[0].pk))
    copy = ProductDocument(title=shop.title, description=shop.description, attributes=shop.attributes)
    fresh = ProductDocument(title="Linen summer dress", description="Light and airy.")
    space = spaces.active_space()
    assert indexing.index_collection("eval:reuse", space, [("a", copy), ("b", copy), ("c", fresh)]) == (3, 0)
    assert encoded == ["Linen summer dress\nLight and airy."]  # the shop's text and its duplicate: copied
    vectors = {
        row.document.object_id: list(row.vector)
        for row in Embedding.objects.filter(space=space, document__collection="eval:reuse")
    }
    assert vectors["a"] == vectors["b"] == vector_of(products[0])


def test_reindex_skips_unchanged_and_removes_orphans(products):
    Product.objects.filter(pk=products[0].pk).delete()  # its on_commit task never runs (as when no worker listened)
    summary = indexing.reindex(spaces.active_space(), kinds=("product",))
    assert summary.as_dict() == {"embedded": 0, "skipped": len(products) - 1, "failed": 0, "removed": 1}


def test_bulk_loads_leave_the_planner_statistics_current(products):
    """Unanalysed tables made the evaluation's similarity queries take seconds each (nested loops over 'empty'
    tables)."""
    from django.db import connection

    def estimated_rows() -> float:
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'shopsearch_embedding'")
            return cursor.fetchone()[0]

    with connection.cursor() as cursor:  # as a fresh test database is: never analysed
        cursor.execute("UPDATE pg_class SET reltuples = -1 WHERE relname = 'shopsearch_embedding'")
    indexing.reindex(spaces.active_space(), kinds=("product",))
    assert estimated_rows() == len(products)
    indexing.index_collection(
        "eval:stats", spaces.active_space(), [("a", ProductDocument(title="Linen summer dress", description=""))]
    )
    assert estimated_rows() == len(products) + 1


def test_reindex_command_resumes_after_a_failed_batch(products, fake_model, monkeypatch, capsys):
    Embedding.objects.all().delete()
    real_encode = fake_model.encode
    calls = {"n": 0}

    def flaky(texts):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated crash in the second batch")
        return real_encode(texts)

    monkeypatch.setattr(fake_model, "encode", flaky)
    call_command("reindex", "--kind", "product", "--batch-size", "10", "--no-progress")
    first = capsys.readouterr().out
    assert '"embedded": 20' in first and '"failed": 10' in first
    call_command("reindex", "--kind", "product", "--batch-size", "10", "--no-progress")
    second = capsys.readouterr().out
    assert '"embedded": 10' in second and '"skipped": 20' in second and '"failed": 0' in second


def test_new_model_space_fills_while_the_old_one_serves_then_switches(
    products, fake_model, monkeypatch, settings, run_on_commit
):
    old = spaces.active_space()
    other = type(fake_model)()
    other.name, other.dimensions = "other-fake-model", 64
    original = other.encode
    other.encode = lambda texts: original([t[::-1] for t in texts])  # a different vector space
    patched = indexing.encoders.get_encoder
    monkeypatch.setattr(
        indexing.encoders, "get_encoder", lambda name: other if name == "other-fake-model" else patched(name)
    )

    new = spaces.get_or_create_space("other-fake-model")
    assert new.status == EmbeddingSpace.Status.BUILDING and not new.is_active
    indexing.index_objects("product", [p.pk for p in products[:10]], new)  # an interrupted fill
    with pytest.raises(exceptions.SpaceError, match="still lacks 20 vectors"):
        spaces.activate(new)
    assert spaces.active_space() == old
    # an edit meanwhile reaches both the serving space and the one being built
    products[20].title = "Edited while building"
    run_on_commit(products[20].save)
    assert Embedding.objects.filter(space=new, document__object_id=str(products[20].pk)).exists()

    call_command("reindex", "--model", "other-fake-model", "--kind", "product", "--no-progress")
    assert spaces.active_space() == new
    assert EmbeddingSpace.objects.filter(is_active=True).count() == 1


def test_queries_only_meet_vectors_of_the_active_space(products, fake_model):
    active = spaces.active_space()
    stray = EmbeddingSpace.objects.create(model_name="x", model_identity="stray", dimensions=64, recipe="p1.1")
    spaces.create_space_indexes(stray)
    target = Document.objects.get(kind="product", object_id=str(products[0].pk))
    query_vector = fake_model.encode(["completely unrelated words zebra quantum"])[0]
    # the stray space holds a vector identical to the query for one product; the active space must not see it
    Embedding.objects.create(space=stray, document=target, kind="product", vector=query_vector, content_hash="x")
    hits = search.nearest_products(active, query_vector, search.Filters(), limit=5)
    stray_hit = [d for d, dist in hits if d == target.pk and dist < 1e-6]
    assert not stray_hit
    own = dict(Embedding.objects.filter(space=active).values_list("document_id", "space_id"))
    assert all(own[doc_id] == active.pk for doc_id, _ in hits)


def test_a_space_has_its_own_hnsw_indexes_until_it_is_deleted(fake_model):
    from django.db import connection

    space = spaces.get_or_create_space("test-hashing-encoder")

    def index_names() -> set[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'shopsearch_embedding'")
            return {row[0] for row in cursor.fetchall()}

    expected = {f"shopsearch_hnsw_s{space.pk}_product", f"shopsearch_hnsw_s{space.pk}_review"}
    assert expected <= index_names()
    space.delete()
    assert not expected & index_names()


def test_a_retired_space_no_longer_gets_every_save_and_the_serving_one_cannot_be_retired(
    products, fake_model, run_on_commit
):
    abandoned = EmbeddingSpace.objects.create(
        model_name=FAKE_MODEL, model_identity="abandoned-build", dimensions=64, recipe="x"
    )
    spaces.create_space_indexes(abandoned)
    products[0].title = "Edited while a build lies abandoned"
    run_on_commit(products[0].save)
    assert Embedding.objects.filter(space=abandoned).count() == 1  # a building space is kept current: twice the work
    spaces.retire(abandoned)
    products[1].title = "Edited after the build was retired"
    run_on_commit(products[1].save)
    assert Embedding.objects.filter(space=abandoned).count() == 1
    with pytest.raises(exceptions.SpaceError, match="serves search"):
        spaces.retire(spaces.active_space())


def test_the_admin_retires_an_abandoned_build_but_not_the_serving_space(products, admin_client):
    abandoned = EmbeddingSpace.objects.create(
        model_name=FAKE_MODEL, model_identity="abandoned-build", dimensions=64, recipe="x"
    )
    active = spaces.active_space()
    for space in (abandoned, active):
        response = admin_client.post(
            "/admin/shopsearch/embeddingspace/",
            {"action": "retire_spaces", "_selected_action": [space.pk]},
            follow=True,
        )
        assert response.status_code == 200
    abandoned.refresh_from_db()
    active.refresh_from_db()
    assert abandoned.status == EmbeddingSpace.Status.RETIRED and active.status != EmbeddingSpace.Status.RETIRED
    assert b"serves search; switch to another space before retiring it" in response.content
