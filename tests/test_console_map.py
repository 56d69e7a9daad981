"""The embedding map: the console job projects every product of the active space, a query is placed by the same
fitted projection, and the page and the query endpoint answer as documented."""

from __future__ import annotations

import numpy as np
import pytest
from django.contrib.auth.models import User

from shopsearch import console, embedding_map, search, spaces
from shopsearch.models import ConsoleJob, Document, Embedding, EmbeddingMap

from . import console_catalogue

pytestmark = pytest.mark.django_db
MAP = "/admin/shopsearch/consolejob/map/"
PROJECT = "/admin/shopsearch/consolejob/map/project/"


@pytest.fixture
def clusters(fake_model):
    return console_catalogue.clusters()


def test_the_map_job_projects_every_product_of_the_space(clusters, run_on_commit):
    job = run_on_commit(console.start, "compute_map", {}, "owner")
    job.refresh_from_db()
    assert (job.status, job.done, job.total) == ("done", 2, 2), job.message
    space = spaces.active_space()
    space_map = EmbeddingMap.objects.get(space=space)
    assert sorted(object_id for object_id, _, _ in space_map.points) == sorted(clusters.values())
    assert space_map.products == len(clusters) and f"map of {len(clusters)} products" in job.message
    # each product's point is the stored projection of its stored vector: what a query goes through too
    vectors = dict(Embedding.objects.filter(space=space, kind="product").values_list("document__object_id", "vector"))
    for object_id, x, y in space_map.points:
        assert embedding_map.project(space_map, vectors[object_id]) == pytest.approx((x, y), abs=1e-4)
    assert len(space_map.components) == 2 and all(len(axis) == space.dimensions for axis in space_map.components)
    assert np.allclose(np.linalg.norm(space_map.components, axis=1), 1.0)
    assert 0 < sum(space_map.explained_variance) <= 1


def test_a_query_lands_among_the_products_it_resembles(clusters):
    space_map = embedding_map.compute(spaces.active_space())
    placed = embedding_map.project_query(space_map, "wool coat for winter")
    points = {object_id: np.array([x, y]) for object_id, x, y in space_map.points}
    coats = np.mean([points[clusters[f"coat{n}"]] for n in range(6)], axis=0)
    dresses = np.mean([points[clusters[f"dress{n}"]] for n in range(6)], axis=0)
    here = np.array([placed["x"], placed["y"]])
    assert np.linalg.norm(here - coats) < np.linalg.norm(here - dresses)
    assert set(placed["nearest"]) <= {clusters[f"coat{n}"] for n in range(6)} | {clusters["bridge"]}
    vector = search.encode_query(space_map.space, "wool coat for winter")
    assert (placed["x"], placed["y"]) == pytest.approx(embedding_map.project(space_map, vector), abs=1e-4)


def test_the_map_page_draws_every_product_with_title_category_and_sentiment(clusters, client):
    client.force_login(User.objects.create_superuser("root"))
    assert "No map of space" in client.get(MAP).content.decode()
    assert client.get(PROJECT, {"q": "coat"}).status_code == 409
    space = spaces.active_space()
    embedding_map.compute(space)
    for n, score in enumerate((0.5, -0.1)):  # two labelled reviews of coat0: its sentiment is their mean
        review = Document.objects.create(
            kind="review", object_id=f"r{n}", product_id=clusters["coat0"], text="fine", content_hash="h"
        )
        Embedding.objects.create(
            space=space,
            document=review,
            kind="review",
            vector=[1.0] + [0.0] * 63,
            content_hash="h",
            sentiment_label="positive",
            sentiment_score=score,
        )
    response = client.get(MAP)
    body = response.content.decode()
    assert "What the axes are not" in body and "shopsearch/console_map.js" in body
    drawn = response.context["points"]
    assert len(drawn) == len(clusters)
    coat = next(point for point in drawn if point["id"] == clusters["coat0"])
    assert coat["category"] == "Coats" and coat["title"].startswith("Wool coat")
    assert (coat["sentiment"], coat["reviews"]) == (0.2, 2)
    assert next(point for point in drawn if point["id"] == clusters["dress0"])["sentiment"] is None
    answer = client.get(PROJECT, {"q": "linen dress"}).json()
    assert set(answer) == {"query", "x", "y", "nearest"}
    bad = client.get(PROJECT, {"q": "  "})
    assert bad.status_code == 400 and bad.json()["detail"].startswith("q:")


def test_a_map_needs_products(fake_model, run_on_commit):
    spaces.ensure_active_space()
    job = run_on_commit(console.start, "compute_map", {}, "owner")
    job.refresh_from_db()
    assert job.status == "failed" and "a map needs at least 3" in job.message
    assert not EmbeddingMap.objects.exists() and ConsoleJob.objects.get().pk == job.pk
