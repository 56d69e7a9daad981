"""A space created under VECTOR_TYPE "halfvec" is indexed and searched at half precision through the real stack
(bundled model, 60 of Luma's products): its HNSW indexes are on `vector::halfvec(<dims>)`, every distance repeats that
cast so the planner uses them, what they return agrees with an exact scan over the stored vectors, and a space's
type never changes (another type is another space)."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from shopsearch import encoders, search, spaces, sql
from shopsearch.exceptions import SpaceError
from shopsearch.models import Embedding

from .conftest import demo_rows, load_demo_products

pytestmark = [pytest.mark.model, pytest.mark.django_db]

QUERIES = ["warm jacket for winter hiking", "yoga pants", "water bottle", "running shorts for women", "backpack"]


@pytest.fixture
def halfvec(real_model, settings):
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "VECTOR_TYPE": "halfvec"}


def exact_order(space, vector: np.ndarray, category: str | None = None) -> list[int]:
    """Document ids of the space's products by cosine to `vector`: numpy over the stored single-precision vectors."""
    stored = Embedding.objects.filter(space=space, kind="product")
    if category:
        stored = stored.filter(document__category=category)
    ids, vectors = zip(*stored.values_list("document_id", "vector"), strict=True)
    return [ids[i] for i in np.argsort(-(np.asarray(vectors, dtype=np.float32) @ vector), kind="stable")]


def test_a_halfvec_space_is_searched_through_its_hnsw_index_as_an_exact_scan_ranks(halfvec, settings):
    rows = demo_rows("luma/products.jsonl.gz", limit=60)
    load_demo_products(rows)
    space = spaces.active_space()
    assert space.vector_type == "halfvec"
    assert Embedding.objects.filter(space=space, kind="product").count() == len(rows)
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "EXACT_SEARCH_MAX_ROWS": 0}  # every search through HNSW
    recalls = []
    for query in QUERIES:
        vector = search.encode_query(space, query)
        with CaptureQueriesContext(connection) as captured:
            hits = search.nearest_products(space, vector, search.Filters(), 10)
        recalls.append(len({doc_id for doc_id, _ in hits} & set(exact_order(space, vector)[:10])) / 10)
        # the statement among those of its round trip (sql.run_batch) that ranks by distance
        statement = next(
            part for q in captured.captured_queries for part in q["sql"].split("; ") if "ORDER BY distance" in part
        )
        assert f"::halfvec({space.dimensions}) <=>" in statement
        with transaction.atomic(), connection.cursor() as cursor:
            sql.scan_settings(cursor)
            # on so few rows the planner prefers sorting them all: with sorts ruled out only an index that serves the
            # ORDER BY expression can answer
            cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute("EXPLAIN " + statement)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert f"Index Scan using {spaces.index_name(space, 'product')}" in plan, plan
    assert np.mean(recalls) >= 0.9, recalls

    category = max({row["category"] for row in rows}, key=[row["category"] for row in rows].count)
    vector = search.encode_query(space, "yoga pants")
    filtered = [doc_id for doc_id, _ in search.nearest_products(space, vector, search.Filters(category=category), 10)]
    truth = exact_order(space, vector, category)
    assert len(filtered) == min(10, len(truth))  # a full page: the filter runs inside the iterative scan
    assert len(set(filtered) & set(truth[:10])) >= 0.9 * len(filtered)

    page = search.search_products("warm jacket for winter hiking", "hybrid", facets=False, highlight=False, log=False)
    assert page.hits and "Jacket" in page.hits[0].title


def test_the_vector_type_is_fixed_per_space_and_checked(halfvec, settings):
    half = spaces.get_or_create_space(encoders.configured_model())
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "VECTOR_TYPE": "vector"}
    single = spaces.get_or_create_space(encoders.configured_model())
    assert (single.pk != half.pk, half.vector_type, single.vector_type) == (True, "halfvec", "vector")
    assert single.model_identity == half.model_identity and spaces.get_or_create_space(single.model_name) == single
    assert "::vector(" in sql.distance("e.vector", single) and "::halfvec(" in sql.distance("e.vector", half)
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "VECTOR_TYPE": "float16"}
    with pytest.raises(SpaceError, match="'vector', 'halfvec'"):
        spaces.get_or_create_space(encoders.configured_model())
