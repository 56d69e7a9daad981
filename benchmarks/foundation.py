"""Indexing rate through a real Celery worker and search API latency on the demo catalogue; prints JSON.

Runs in its own database (shopsearch_bench by default), which it empties first, so the demo shop is untouched.
Needs Redis on REDIS_URL. Usage:

    .venv/bin/python benchmarks/foundation.py [--database shopsearch_bench] [--reviews 2000] [--queries 100] \
        [--concurrency 2]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine, percentile, setup_django  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="shopsearch_bench", help="database to run in; emptied first")
    parser.add_argument("--reviews", type=int, default=2000, help="how many demo reviews to index (all: 22641)")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    args = parser.parse_args()

    setup_django(args.database)
    from celery import current_app
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from catalog.models import Product, Review

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:  # start empty, without sending a removal task per row
        cursor.execute(
            "TRUNCATE catalog_review, catalog_product, catalog_category, shopsearch_embedding, "
            "shopsearch_document, shopsearch_embeddingspace RESTART IDENTITY CASCADE"
        )

    fixtures = ROOT / "catalog" / "fixtures"
    reviews_file = ROOT / ".data" / "bench_reviews.jsonl"
    reviews_file.parent.mkdir(exist_ok=True)
    with (
        gzip.open(fixtures / "demo_reviews.jsonl.gz", "rt", encoding="utf-8") as source,
        reviews_file.open("w") as target,
    ):
        for number, line in enumerate(source):
            if number >= args.reviews:
                break
            target.write(line)
    quiet = open(os.devnull, "w")
    call_command(
        "import_catalog",
        products=fixtures / "demo_products.jsonl.gz",
        reviews=reviews_file,
        no_progress=True,
        stdout=quiet,
    )

    name = f"bench-{uuid.uuid4().hex[:6]}"  # the worker takes this database's queue (settings: shopsearch.<db name>)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "shopsite",
            "worker",
            "-c",
            str(args.concurrency),
            "-l",
            "WARNING",
            "-n",
            f"{name}@%h",
        ],
        cwd=ROOT,
        env={**os.environ, "SHOPSEARCH_TORCH_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not current_app.control.ping(destination=[f"{name}@{platform.node()}"], timeout=1.0):
            time.sleep(0.5)
        time.sleep(10)  # the children load the model after the parent answers
        rates = {}
        for kind, count in (("product", Product.objects.count()), ("review", Review.objects.count())):
            started = time.perf_counter()
            call_command("reindex", kind=[kind], use_workers=True, no_progress=True, stdout=quiet)
            seconds = time.perf_counter() - started
            rates[kind] = {"objects": count, "seconds": round(seconds, 1), "per_second": round(count / seconds, 1)}
    finally:
        worker.terminate()
        worker.wait(timeout=60)

    titles = []
    with gzip.open(fixtures / "demo_reviews.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            title = json.loads(line).get("title", "").strip()
            if title and title.lower() not in {t.lower() for t in titles}:
                titles.append(title)
            if len(titles) >= args.queries:
                break
    client = Client(HTTP_HOST="localhost")
    for title in titles[:5]:
        client.get("/api/search/", {"q": title})  # warm-up: model load, connections
    latencies = []
    for title in titles:
        started = time.perf_counter()
        response = client.get("/api/search/", {"q": title})
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content
    print(
        json.dumps(
            {
                "benchmark": "foundation",
                "machine": machine(),
                "data": (
                    f"demo catalogue: {Product.objects.count()} products, {Review.objects.count()} reviews"
                    " (CC0 clothing reviews)"
                ),
                "indexing_through_celery": {**rates, "worker_processes": args.concurrency},
                "search_api": {
                    "queries": len(latencies),
                    "kind": (
                        "in-process Django test client, GET /api/search/ (semantic), page_size 20,"
                        " includes query encoding"
                    ),
                    "latency_ms_p50": round(statistics.median(latencies), 2),
                    "latency_ms_p95": round(percentile(latencies, 0.95), 2),
                },
            }
        )
    )


if __name__ == "__main__":
    main()
