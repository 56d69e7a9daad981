"""Search latency at concurrency 1, query encoding included, on a relevance folder's catalogue; prints JSON.

The folder's products (default: ../shared/data/crowdflower_dev) are indexed into a benchmark collection of their
own with deterministic synthetic categories (12), prices and stock, so filters have something to select; vectors of
texts already embedded in the space (e.g. by evaluate_search) are reused. Every query runs once per scenario, after
one warm-up pass, with the query-vector cache cleared before every query ("uncached") and kept ("_cached": what
is left is SQL and Python). encode_query_only is the encoding alone; stages_hybrid_filtered gives the median time of
each step of an uncached hybrid search with filters (the query is encoded on a thread while the keyword SQL runs, so
the steps overlap). Runs in --database (default: DATABASE_NAME, else shopsearch). Usage:

    .venv/bin/python benchmarks/search_latency.py [DATASET_DIR] [--database bench]
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine, setup_django  # noqa: E402

if TYPE_CHECKING:
    from shopsearch import search
    from shopsearch.registry import ProductDocument

CATEGORIES = [f"Category {n:02d}" for n in range(12)]


def synthetic(object_id: str, doc: ProductDocument) -> ProductDocument:
    """The product with a category, a price (5–500) and stock drawn from a hash of its id (stable across runs)."""
    from shopsearch.registry import ProductDocument

    h = int(hashlib.sha256(object_id.encode()).hexdigest(), 16)
    return ProductDocument(title=doc.title, description=doc.description, category=CATEGORIES[h % 12],
                           price=Decimal(5 + (h >> 8) % 496), in_stock=(h >> 20) % 4 != 0)


def scenario_filters(index: int) -> search.Filters:
    """Rotating filters: a category (≈ 8 %), a price range (≈ 40 %), in stock (≈ 75 %), and all three together."""
    from shopsearch import search

    return [
        search.Filters(category=CATEGORIES[index % 12]),
        search.Filters(min_price=Decimal(50), max_price=Decimal(250)),
        search.Filters(in_stock=True),
        search.Filters(category=CATEGORIES[index % 12], max_price=Decimal(300), in_stock=True),
    ][index % 4]


def stage_timings(run) -> dict:
    """Median milliseconds of each step of search_products while `run()` searches (the steps are wrapped meanwhile)."""
    from shopsearch import search, sql

    steps = {"encode_query": search, "keyword_matches": search, "nearest_products": search, "scan_exactly": sql,
             "fuse": search, "_hits": search, "facet_counts": search}  # each step in the module search calls it through
    timings: dict[str, list[float]] = {step: [] for step in steps}
    originals = {step: getattr(module, step) for step, module in steps.items()}

    def timed(step, function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                timings[step].append((time.perf_counter() - started) * 1000)
        return wrapper

    for step, module in steps.items():
        setattr(module, step, timed(step, originals[step]))
    try:
        run()
    finally:
        for step, module in steps.items():
            setattr(module, step, originals[step])
    return {step: round(float(np.median(values)), 2) for step, values in timings.items() if values}


def summary(timings: list[float]) -> dict:
    return {"median_ms": round(float(np.median(timings)), 1), "p95_ms": round(float(np.percentile(timings, 95)), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=ROOT.parent / "shared" / "data" / "crowdflower_dev")
    parser.add_argument("--database", default=os.environ.get("DATABASE_NAME") or "shopsearch",
                        help="database to run in (default: DATABASE_NAME, else shopsearch)")
    args = parser.parse_args()
    setup_django(args.database)
    from shopsearch import encoders, evaluation, indexing, search

    folder = args.folder
    relevance = evaluation.load_relevance_set(folder)
    space = indexing.get_or_create_space(encoders.configured_model())
    collection = f"bench:{relevance.fingerprint[:16]}"
    indexing.index_collection(collection, space, [(oid, synthetic(oid, doc)) for oid, doc in relevance.products])
    queries = list(relevance.queries.values())
    search.encode_query(space, "warm up")
    results = {}
    scenarios = [("hybrid_filtered", "hybrid", True), ("hybrid", "hybrid", False), ("keyword_filtered", "keyword", True),
                 ("semantic_filtered", "semantic", True)]
    for name, mode, filtered in scenarios:
        for cached in (False, True):
            timings = []
            for rep in range(2):  # the first pass warms the database's caches and prepared plans (and the vector cache)
                timings = []
                for index, query in enumerate(queries):
                    if not cached:
                        search.clear_query_cache()
                    filters = scenario_filters(index) if filtered else search.Filters()
                    started = time.perf_counter()
                    search.search_products(query, mode, filters, space=space, collection=collection)
                    timings.append((time.perf_counter() - started) * 1000)
            if mode != "keyword" or not cached:
                results[f"{name}{'_cached' if cached else ''}"] = summary(timings)
    encode = []
    for query in queries:
        search.clear_query_cache()
        started = time.perf_counter()
        search.encode_query(space, query)
        encode.append((time.perf_counter() - started) * 1000)
    results["encode_query_only"] = summary(encode)

    def hybrid_filtered() -> None:
        for index, query in enumerate(queries):
            search.clear_query_cache()
            search.search_products(query, "hybrid", scenario_filters(index), space=space, collection=collection)

    results["stages_hybrid_filtered"] = stage_timings(hybrid_filtered)
    print(json.dumps({
        "machine": machine(),
        "data": {"database": args.database, "folder": str(folder), "products": len(relevance.products),
                 "queries": len(queries), "page_size": 20, "highlights": True, "facets": True, "concurrency": 1},
        "latency": results,
    }))


if __name__ == "__main__":
    main()
