"""halfvec against vector spaces over the same stored vectors: HNSW recall@10 against an exact scan (with and without
a filter), search latency, HNSW build time and index sizes; prints JSON.

Runs on a database that already holds a relevance folder's products embedded by `evaluate_search` (a copy of the
shared `cfeval`, never `cfeval` itself: this script changes the copy). It

- gives the folder's documents a category drawn from a hash of their id (`--categories` of them, 20 = 5 % each;
  crowdflower has none), so a filter has something to select;
- copies the vector space's vectors of that collection into a halfvec space of the same model and recipe (the
  stored vectors are the same single-precision ones; the space's type decides how they are indexed and compared),
  after deleting every other collection's documents so both spaces index the same rows;
- (re)builds both spaces' HNSW indexes, timed;
- searches each folder query through `search.nearest_products` in both spaces, one after the other, which one first
  alternating from query to query (so a change of load, or one search warming the pages of the next, hits both
  alike), every search through HNSW (EXACT_SEARCH_MAX_ROWS = 0, what a filter that keeps more than that many
  products gets), once without a filter and once with a category; a warm-up pass first. recall@10 is against numpy's
  exact top-10 over the stored single-precision vectors, so halfvec's rounding counts against it.

    psql ... -c 'CREATE DATABASE h18_halfvec TEMPLATE cfeval'   # or pg_dump cfeval | pg_restore
    DATABASE_NAME=h18_halfvec DJANGO_DEBUG=1 .venv/bin/python manage.py migrate
    .venv/bin/python benchmarks/halfvec.py ../shared/data/crowdflower_dev --database h18_halfvec
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, percentile, setup_django  # noqa: E402

SHARED = {"cfeval", "storefront_bench"}


def derive_categories(collection: str, count: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE shopsearch_document SET category = 'bucket ' || lpad((abs(hashtext(object_id)) %% %s)::text, 2, "
            "'0') WHERE collection = %s AND kind = 'product'",
            [count, collection],
        )


def halfvec_copy(source, collection: str):
    """The halfvec space beside `source`, holding the collection's vectors copied from it (once)."""
    from django.db import connection, transaction

    from shopsearch import spaces
    from shopsearch.models import Document, Embedding, EmbeddingSpace

    with transaction.atomic():
        Document.objects.exclude(collection=collection).delete()  # both spaces index exactly the same rows
        half, created = EmbeddingSpace.objects.get_or_create(
            model_identity=source.model_identity,
            dimensions=source.dimensions,
            recipe=source.recipe,
            vector_type=EmbeddingSpace.VectorType.HALFVEC,
            defaults={"model_name": source.model_name, "status": EmbeddingSpace.Status.READY},
        )
        if created or not Embedding.objects.filter(space=half).exists():
            with connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO shopsearch_embedding (space_id, document_id, kind, vector, content_hash, updated_at) "
                    "SELECT %s, document_id, kind, vector, content_hash, now() FROM shopsearch_embedding "
                    "WHERE space_id = %s",
                    [half.pk, source.pk],
                )
        spaces.drop_space_indexes(half)
    return half


def build_indexes(space) -> dict:
    """Drop and rebuild the space's HNSW indexes; build time and the product index's size."""
    from django.db import connection, transaction

    from shopsearch import spaces

    spaces.drop_space_indexes(space)
    started = time.perf_counter()
    with transaction.atomic():
        spaces.create_space_indexes(space)
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE shopsearch_embedding")
        cursor.execute("SELECT pg_relation_size(%s)", [spaces.index_name(space, "product")])
        index_bytes = cursor.fetchone()[0]
    return {"hnsw_build_seconds": round(seconds, 1), "product_hnsw_index_bytes": index_bytes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="relevance folder already indexed in this database (evaluate_search)")
    parser.add_argument("--database", required=True, help="a copy of the database evaluate_search filled")
    parser.add_argument("--categories", type=int, default=20)
    args = parser.parse_args()
    if args.database in SHARED:
        raise SystemExit(f"{args.database} is shared: run on a copy (CREATE DATABASE x TEMPLATE {args.database})")
    setup_django(args.database)

    from django.conf import settings
    from django.db import connection
    from django.test import override_settings

    from shopsearch import evaluation, search
    from shopsearch.conf import setting
    from shopsearch.models import Embedding, EmbeddingSpace

    relevance = evaluation.load_relevance_set(args.folder)
    collection = relevance.collection
    source = (
        EmbeddingSpace.objects.filter(
            vector_type=EmbeddingSpace.VectorType.VECTOR, embeddings__document__collection=collection
        )
        .distinct()
        .first()
    )
    if source is None:
        raise SystemExit(f"no vector space holds {args.folder}'s products: run evaluate_search on it first")
    derive_categories(collection, args.categories)
    half = halfvec_copy(source, collection)
    report: dict = {"products": Embedding.objects.filter(space=source, kind="product").count(), "spaces": {}}
    for space in (source, half):
        report["spaces"][space.vector_type] = build_indexes(space)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_table_size('shopsearch_embedding'), avg(pg_column_size(vector)) FROM shopsearch_embedding"
        )
        table_bytes, vector_bytes = cursor.fetchone()
    report["embedding_table_bytes_both_spaces"] = table_bytes
    report["stored_vector_bytes"] = round(float(vector_bytes))

    rows = list(
        Embedding.objects.filter(space=source, kind="product").values_list(
            "document_id", "document__category", "vector"
        )
    )
    ids = np.asarray([row[0] for row in rows])
    categories = np.asarray([row[1] for row in rows])
    matrix = np.asarray([row[2] for row in rows], dtype=np.float32)
    queries = list(relevance.queries.values())
    vectors = [search.encode_query(source, text) for text in queries]
    bucket_names = sorted(set(categories))

    def exact(vector: np.ndarray, category: str | None) -> set[int]:
        keep = categories == category if category else np.ones(len(ids), bool)
        scores = np.where(keep, matrix @ vector, -np.inf)
        return set(ids[np.argsort(-scores, kind="stable")[: min(10, int(keep.sum()))]].tolist())

    measured: dict = {
        (kind, filtered): {"recall": [], "full": 0, "ms": []} for kind in ("vector", "halfvec") for filtered in (0, 1)
    }
    with override_settings(SHOPSEARCH={**settings.SHOPSEARCH, "EXACT_SEARCH_MAX_ROWS": 0}):
        for warm_up in (True, False):
            for n, vector in enumerate(vectors):
                for filtered in (0, 1):
                    category = bucket_names[n % len(bucket_names)] if filtered else None
                    truth = exact(vector, category)
                    for space in (source, half) if n % 2 else (half, source):
                        started = time.perf_counter()
                        got = search.nearest_products(
                            space, vector, search.Filters(category=category), 10, collection=collection
                        )
                        elapsed = (time.perf_counter() - started) * 1000
                        if warm_up:
                            continue
                        cell = measured[(space.vector_type, filtered)]
                        cell["ms"].append(elapsed)
                        cell["recall"].append(len({doc_id for doc_id, _ in got} & truth) / max(1, len(truth)))
                        cell["full"] += len(got) == len(truth)
    for (kind, filtered), cell in measured.items():
        report["spaces"][kind]["filtered" if filtered else "unfiltered"] = {
            "recall_at_10": round(float(np.mean(cell["recall"])), 4),
            "full_pages": round(cell["full"] / len(vectors), 4),
            "p50_ms": round(percentile(cell["ms"], 0.5), 2),
            "p95_ms": round(percentile(cell["ms"], 0.95), 2),
        }
    vec, hv = report["spaces"]["vector"], report["spaces"]["halfvec"]
    report["halfvec_over_vector_index_bytes"] = round(
        hv["product_hnsw_index_bytes"] / vec["product_hnsw_index_bytes"], 3
    )
    report["queries"] = len(vectors)
    report["filter"] = (
        f"category from a hash of the id, {len(bucket_names)} categories (each ~{100 // len(bucket_names)} %)"
    )
    report["ef_search"] = setting("HNSW_EF_SEARCH")
    report["machine"] = machine()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
