"""How long the console's embedding map takes to compute (embedding_map.compute: read the product vectors, fit the
PCA, store every point) and to place one query on it (embedding_map.project_query: encode, project, nearest
products). Prints JSON with the machine and the data.

Two catalogues: the demo shop's (the CC0 demo products, imported into the benchmark's database and embedded with
the bundled model if they are not there yet) and, with --relevance DIR, a relevance folder's products (e.g.
../shared/data/crowdflower_dev, 9,913 products) indexed in their own collection (evaluation.prepare: vectors already
in the database's space are reused), its queries placed among that collection's products. The map is computed
--repeat times; the figures are the median and the range. Queries: a fixed clothing list on the demo, the folder's
own queries on its map. --no-demo leaves the demo catalogue out (a database that holds only an evaluation set).

Usage: python benchmarks/embedding_map.py [--database NAME] [--relevance DIR [--embedded-only | --no-demo]]
       [--repeat 3] [--queries 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from common import ROOT, machine, percentile, setup_django

DEMO_PRODUCTS = ROOT / "catalog" / "fixtures" / "demo_products.jsonl.gz"
QUERIES = [
    "warm coat for winter",
    "summer dress",
    "jeans",
    "soft sweater",
    "swimsuit",
    "petite pants",
    "lace top",
    "running shorts",
    "wool socks",
    "leather bag",
]


def timed_maps(space, collection: str, repeat: int) -> dict:
    from shopsearch import embedding_map

    seconds, space_map = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        space_map = embedding_map.compute(space, collection=collection)
        seconds.append(time.perf_counter() - started)
    return {
        "products": space_map.products,
        "compute_seconds_median": round(statistics.median(seconds), 3),
        "compute_seconds_min": round(min(seconds), 3),
        "compute_seconds_max": round(max(seconds), 3),
        "fit_seconds_reported_by_the_map": space_map.seconds,
        "explained_variance": space_map.explained_variance,
    }, space_map


def timed_queries(space_map, pool: list[str], queries: int, collection: str) -> dict:
    """Place `queries` texts of `pool` (cycled) among `collection`'s products, each encoded afresh."""
    from shopsearch import embedding_map, search

    texts = (pool * (queries // len(pool) + 1))[:queries]
    search.encode_query(space_map.space, "warm up")  # loading the model is not a query's cost
    search.clear_query_cache()
    latencies = []
    for text in texts:
        started = time.perf_counter()
        embedding_map.project_query(space_map, text, collection=collection)
        latencies.append((time.perf_counter() - started) * 1000)
        search.clear_query_cache()
    return {
        "queries": len(texts),
        "place_query_ms_p50": round(percentile(latencies, 0.5), 1),
        "place_query_ms_p95": round(percentile(latencies, 0.95), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="shopsearch_bench_map")
    parser.add_argument("--relevance", help="also map this relevance folder's products")
    parser.add_argument(
        "--embedded-only",
        action="store_true",
        help="with --relevance: map the folder's products that already have a vector here, embed none",
    )
    parser.add_argument("--no-demo", action="store_true", help="with --relevance: only the folder's products")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--queries", type=int, default=20)
    args = parser.parse_args()
    setup_django(args.database)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from shopsearch import encoders, evaluation, spaces
    from shopsearch.models import SHOP_COLLECTION, Document

    report: dict = {"benchmark": "embedding_map", "machine": machine(), "database": args.database, "method": "pca"}
    demo = not (args.relevance and (args.embedded_only or args.no_demo))
    if demo:  # the demo shop's catalogue, embedded here if it is not yet
        if not Document.objects.filter(collection=SHOP_COLLECTION, kind="product").exists():
            call_command("import_catalog", products=DEMO_PRODUCTS, no_progress=True)
        started = time.perf_counter()
        call_command("reindex", kind=["product"], no_progress=True, verbosity=0)  # embeds only what is missing
        report["demo_reindex_seconds"] = round(time.perf_counter() - started, 1)
        space = spaces.require_active_space()
        mapped, space_map = timed_maps(space, SHOP_COLLECTION, args.repeat)
        report["demo"] = {
            "data": str(DEMO_PRODUCTS.relative_to(ROOT)),
            **mapped,
            **timed_queries(space_map, QUERIES, args.queries, SHOP_COLLECTION),
        }
    if args.relevance:
        relevance = evaluation.load_relevance_set(args.relevance)
        started = time.perf_counter()
        if args.embedded_only:  # the vectors an earlier, interrupted prepare left: a map of that many products
            space, prepared = spaces.get_or_create_space(encoders.configured_model()), {"embedded_only": True}
        else:
            space, embedded, reused = evaluation.prepare(relevance)
            prepared = {
                "embedded": embedded,
                "reused": reused,
                "index_seconds": round(time.perf_counter() - started, 1),
            }
        other, space_map = timed_maps(space, relevance.collection, args.repeat)
        report["relevance"] = {
            "data": str(args.relevance),
            **prepared,
            **other,
            **timed_queries(space_map, list(relevance.queries.values()), args.queries, relevance.collection),
        }
        if demo:
            timed_maps(space, SHOP_COLLECTION, 1)  # the space's map is the shop's again
    report["machine_after"] = machine()["load_average"]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
