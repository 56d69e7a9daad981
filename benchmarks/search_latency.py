"""Search latency at concurrency 1, query encoding included, on a relevance folder's catalogue; prints JSON.

The folder's products (default: ../shared/data/crowdflower_dev) are indexed into a benchmark collection of their
own with deterministic synthetic categories (12), prices and stock, so filters have something to select; vectors of
texts already embedded in the space (e.g. by evaluate_search) are reused. Every query runs once per scenario, after
one warm-up pass, with the query-vector cache cleared before every query ("uncached") and kept ("_cached": what
is left is SQL and Python). encode_query_only is the encoding alone; stages_hybrid_filtered gives the median time of
each step of an uncached hybrid search with filters (the query is encoded on a thread while the keyword SQL runs, so
the steps overlap). Runs in --database (default: DATABASE_NAME, else shopsearch).

Each product also gets two attribute facets derived from its own text (the relevance sets have no attribute fields):
`colour`, the basic colour words (COLOURS) its title contains, and `material`, the material words (MATERIALS) its
title or description contains, both multi-valued, whole words, lower case ("grey" read as "gray").
--attribute-filters measures only searches with two of them at once (ATTRIBUTE_PAIRS, rotating; each pair's share
of the catalogue is printed) in every mode, as served and forced through the HNSW iterative scan, every query
encoded (no cached vectors); hits_per_page_min says whether every page came back full. --titles-only embeds the
titles alone (much less to encode on a busy machine; the facets still come from title and description). --as-typed
searches as shopsearch did before query understanding and the adaptive fusion (queries as typed, FUSION "convex"):
what typo correction, price phrases, boosts and the per-query weights cost. Usage:

    .venv/bin/python benchmarks/search_latency.py [DATASET_DIR] [--database bench] [--attribute-filters] [--titles-only]
        [--as-typed]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import re
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
COLOURS = (
    "black",
    "white",
    "red",
    "blue",
    "green",
    "yellow",
    "pink",
    "purple",
    "orange",
    "brown",
    "gray",
    "silver",
    "gold",
    "beige",
    "navy",
)
MATERIALS = (
    "cotton",
    "leather",
    "wood",
    "steel",
    "plastic",
    "glass",
    "silk",
    "wool",
    "polyester",
    "ceramic",
    "metal",
    "aluminum",
    "nylon",
    "rubber",
    "canvas",
    "denim",
    "linen",
    "bamboo",
)
# Two attribute filters per search (colour AND material; values of one attribute OR'd), rotating over the queries.
ATTRIBUTE_PAIRS = (
    (("black",), ("leather",)),
    (("white",), ("cotton",)),
    (("silver", "black"), ("steel", "metal")),
    (("blue",), ("plastic", "glass")),
)


def words_of(text: str, vocabulary: tuple[str, ...]) -> list[str]:
    found = set(re.findall(r"[a-z]+", text.lower().replace("grey", "gray")))
    return [word for word in vocabulary if word in found]


def attribute_shares(collection: str) -> list[dict]:
    """Each ATTRIBUTE_PAIRS filter with how many of the collection's products pass it."""
    from shopsearch import search
    from shopsearch.models import Document

    products = Document.objects.filter(collection=collection, kind="product")
    shares = []
    for index, (colours, materials) in enumerate(ATTRIBUTE_PAIRS):
        where, params = search.filter_sql(attribute_filters(index), alias="shopsearch_document")
        passing = products.extra(where=[where.removeprefix(" AND ")], params=params).count()
        shares.append(
            {
                "colour": list(colours),
                "material": list(materials),
                "products": passing,
                "share": round(passing / products.count(), 4),
            }
        )
    return shares


def attribute_filters(index: int) -> search.Filters:
    from shopsearch import search

    colours, materials = ATTRIBUTE_PAIRS[index % len(ATTRIBUTE_PAIRS)]
    attributes = (search.AttributeFilter("colour", colours), search.AttributeFilter("material", materials))
    return search.Filters(attributes=attributes)


def synthetic(object_id: str, doc: ProductDocument, titles_only: bool = False) -> ProductDocument:
    """The product with a category, a price (5–500) and stock drawn from a hash of its id (stable across runs), its
    colours and materials; with `titles_only` its description is left out of what is embedded."""
    from shopsearch.registry import ProductDocument

    h = int(hashlib.sha256(object_id.encode()).hexdigest(), 16)
    facets = {"colour": words_of(doc.title, COLOURS), "material": words_of(f"{doc.title} {doc.description}", MATERIALS)}
    return ProductDocument(
        title=doc.title,
        description="" if titles_only else doc.description,
        category=CATEGORIES[h % 12],
        price=Decimal(5 + (h >> 8) % 496),
        in_stock=(h >> 20) % 4 != 0,
        facets=facets,
    )


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

    steps = {
        "encode_query": search,
        "keyword_matches": search,
        "nearest_products": search,
        "scan_exactly": sql,
        "fuse": search,
        "_hits": search,
        "facet_counts": search,
    }  # each step in the module search calls it through
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
    parser.add_argument(
        "--database",
        default=os.environ.get("DATABASE_NAME") or "shopsearch",
        help="database to run in (default: DATABASE_NAME, else shopsearch)",
    )
    parser.add_argument(
        "--attribute-filters",
        action="store_true",
        help="only searches with two attribute filters (colour, material), also through HNSW",
    )
    parser.add_argument(
        "--titles-only",
        action="store_true",
        help="embed the titles alone (about 10x less to encode on a busy machine); facets as before",
    )
    parser.add_argument(
        "--as-typed",
        action="store_true",
        help="search as before query understanding and the adaptive fusion: queries as typed, FUSION convex",
    )
    args = parser.parse_args()
    setup_django(args.database)
    from django.conf import settings

    from shopsearch import encoders, evaluation, indexing, search, spaces

    declared = {**settings.SHOPSEARCH.get("PRODUCT_FACETS", {}), "colour": "string", "material": "string"}
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "PRODUCT_FACETS": declared}

    folder = args.folder
    relevance = evaluation.load_relevance_set(folder)
    space = spaces.get_or_create_space(encoders.configured_model())
    collection = f"bench:{relevance.fingerprint[:16]}{':titles' if args.titles_only else ''}"
    products = [(oid, synthetic(oid, doc, args.titles_only)) for oid, doc in relevance.products]
    indexing.index_collection(collection, space, products)
    queries = list(relevance.queries.values())
    search.encode_query(space, "warm up")
    results = {}
    scenarios = [
        ("hybrid_filtered", "hybrid", scenario_filters, {}),
        ("hybrid", "hybrid", None, {}),
        ("keyword_filtered", "keyword", scenario_filters, {}),
        ("semantic_filtered", "semantic", scenario_filters, {}),
    ]
    if args.attribute_filters:  # as served (few products pass: ranked exactly), and forced through HNSW iterative scans
        scenarios = [(f"{mode}_two_attributes", mode, attribute_filters, {}) for mode in search.MODES]
        scenarios += [
            (f"{mode}_two_attributes_hnsw", mode, attribute_filters, {"EXACT_SEARCH_MAX_ROWS": 0})
            for mode in ("semantic", "hybrid")
        ]
    if args.as_typed:
        settings.SHOPSEARCH = {**settings.SHOPSEARCH, "FUSION": "convex"}
    understand = not args.as_typed
    shopsearch_settings = settings.SHOPSEARCH
    for name, mode, choose, overrides in scenarios:
        settings.SHOPSEARCH = {**shopsearch_settings, **overrides}
        for cached in (False,) if args.attribute_filters else (False, True):  # attribute runs: every query encoded
            timings = []
            for _ in range(2):  # the first pass warms the database's caches and prepared plans (and the vector cache)
                timings, shown = [], []
                for index, query in enumerate(queries):
                    if not cached:
                        search.clear_query_cache()
                    filters = choose(index) if choose else search.Filters()
                    started = time.perf_counter()
                    page = search.search_products(
                        query, mode, filters, space=space, collection=collection, understand=understand
                    )
                    timings.append((time.perf_counter() - started) * 1000)
                    shown.append(len(page.hits))
            if mode != "keyword" or not cached:
                results[f"{name}{'_cached' if cached else ''}"] = {**summary(timings), "hits_per_page_min": min(shown)}
    settings.SHOPSEARCH = shopsearch_settings
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
            chosen = (attribute_filters if args.attribute_filters else scenario_filters)(index)
            search.search_products(query, "hybrid", chosen, space=space, collection=collection, understand=understand)

    results["stages_hybrid_filtered"] = stage_timings(hybrid_filtered)
    print(
        json.dumps(
            {
                "machine": machine(),
                "data": {
                    "database": args.database,
                    "folder": str(folder),
                    "products": len(relevance.products),
                    "queries": len(queries),
                    "page_size": 20,
                    "highlights": True,
                    "facets": True,
                    "concurrency": 1,
                    "as_typed": args.as_typed,
                    "embedded": "titles" if args.titles_only else "titles and descriptions",
                    **({"attribute_pairs": attribute_shares(collection)} if args.attribute_filters else {}),
                },
                "latency": results,
            }
        )
    )


if __name__ == "__main__":
    main()
