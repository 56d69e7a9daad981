"""Aspects and search inside reviews on the demo catalogue: latency, discovered aspects, threshold inspection; JSON.

Runs in its own database (shopsearch_aspects_bench by default), which it empties first. Loads the whole demo
catalogue, embeds the products, syncs every review's document (discovery reads them all) and embeds the reviews of
the product whose review count is closest to --reviews (its sentiment summary needs them). Then it times:
- discover_aspects over all 22,641 reviews;
- GET /api/products/<id>/sentiment/ cold (the first request splits, embeds and labels the product's sentences)
  and warm (median of --repeats);
- GET /api/products/<id>/reviews/?q=... for --queries review titles of other products (median, p95).
With --inspect N it also prints, per configured aspect, up to N random sentences of --inspect-products products in
each similarity band around the threshold, to judge the threshold's precision by reading them. Usage:

    .venv/bin/python benchmarks/aspects.py [--database shopsearch_aspects_bench] [--reviews 100] [--queries 50] \
        [--inspect 8]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine, percentile, setup_django  # noqa: E402

BANDS = [(0.40, 0.45), (0.45, 0.50), (0.50, 0.55), (0.55, 1.01)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="shopsearch_aspects_bench", help="database to run in; emptied first")
    parser.add_argument("--reviews", type=int, default=100, help="review count of the timed product (closest)")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--inspect", type=int, default=0, help="sentences shown per aspect and similarity band")
    parser.add_argument("--inspect-products", type=int, default=6)
    parser.add_argument(
        "--train-per-label", type=int, default=200, help="reviews per label to train a classifier when none is active"
    )
    args = parser.parse_args()

    setup_django(args.database)
    import numpy as np
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count
    from django.test import Client

    from catalog.models import Product, Review
    from shopsearch import indexing, review_insights, sentiment, spaces
    from shopsearch.conf import setting
    from shopsearch.models import ReviewSentence

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE catalog_review, catalog_product, catalog_category, shopsearch_embedding, "
            "shopsearch_document, shopsearch_embeddingspace RESTART IDENTITY CASCADE"
        )
    fixtures = ROOT / "catalog" / "fixtures"
    quiet = open(os.devnull, "w")
    call_command(
        "import_catalog",
        products=fixtures / "demo_products.jsonl.gz",
        reviews=fixtures / "demo_reviews.jsonl.gz",
        no_progress=True,
        stdout=quiet,
    )
    call_command("reindex", kind=["product"], no_progress=True, stdout=quiet)
    for ids in indexing.object_id_batches("review", 2000):
        indexing.sync_documents("review", ids)

    counts = Review.objects.values("product").annotate(n=Count("pk"))
    timed = min(counts, key=lambda row: (abs(row["n"] - args.reviews), row["product"]))
    product_id = str(timed["product"])
    indexing.index_objects(
        "review", list(Review.objects.filter(product_id=timed["product"]).values_list("pk", flat=True))
    )
    space = spaces.active_space()
    if sentiment.active_classifier(space) is None:  # sentence sentiment needs one: train on other products' reviews
        train_file = ROOT / ".data" / "aspects_bench_train.jsonl"
        picked: dict[str, list] = {label: [] for label in sentiment.LABELS}
        with gzip.open(fixtures / "demo_reviews.jsonl.gz", "rt", encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                bucket = picked[sentiment.label_for_rating(row["rating"])]
                if len(bucket) < args.train_per_label:
                    bucket.append(row)
        train_file.write_text("".join(json.dumps(row) + "\n" for rows in picked.values() for row in rows))
        call_command("train_sentiment", file=train_file, stdout=quiet)  # also labels the reviews embedded so far

    started = time.perf_counter()
    discovered = review_insights.discover_aspects(space)
    discovery_s = time.perf_counter() - started

    client = Client(HTTP_HOST="localhost")
    started = time.perf_counter()
    response = client.get(f"/api/products/{product_id}/sentiment/")
    cold_ms = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.content
    summary = response.json()
    warm = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        client.get(f"/api/products/{product_id}/sentiment/")
        warm.append((time.perf_counter() - started) * 1000)

    titles: list[str] = []
    with gzip.open(fixtures / "demo_reviews.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            title = json.loads(line).get("title", "").strip()
            if title and title.lower() not in {t.lower() for t in titles}:
                titles.append(title)
            if len(titles) >= args.queries:
                break
    for title in titles[:3]:
        client.get(f"/api/products/{product_id}/reviews/", {"q": title})
    search_ms = []
    for title in titles:
        started = time.perf_counter()
        response = client.get(f"/api/products/{product_id}/reviews/", {"q": title})
        search_ms.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content

    result = {
        "benchmark": "aspects",
        "machine": machine(),
        "data": (
            f"demo catalogue: {Product.objects.count()} products, {Review.objects.count()} reviews"
            " (CC0 clothing reviews)"
        ),
        "product": {
            "id": product_id,
            "reviews": timed["n"],
            "sentences": ReviewSentence.objects.filter(space=space, product_id=product_id).count(),
        },
        "threshold": setting("SENTIMENT_ASPECT_THRESHOLD"),
        "discover_aspects": {
            "seconds": round(discovery_s, 1),
            "aspects": [{"name": a.name, "sentences": a.sentences, "products": a.products} for a in discovered],
        },
        "sentiment_with_aspects_ms": {
            "cold": round(cold_ms, 1),
            "warm_p50": round(statistics.median(warm), 2),
            "warm_requests": len(warm),
        },
        "review_search_ms": {
            "queries": len(search_ms),
            "p50": round(statistics.median(search_ms), 2),
            "p95": round(percentile(search_ms, 0.95), 2),
            "kind": "in-process Django test client, includes query encoding",
        },
        "aspects": [
            f"{a['name']}: {a['mentions']} mentions, {a['share_negative']:.0%} negative, "
            f"{a['share_positive']:.0%} positive"
            + (f" - {a['examples'][0]['sentence'][:60]!r}" if a["examples"] else "")
            for a in summary["aspects"]
        ],
    }
    if args.inspect:
        rng = random.Random(0)
        busiest = [
            str(row["product"])
            for row in sorted(counts, key=lambda row: (-row["n"], row["product"]))[: args.inspect_products]
        ]
        review_insights.refresh_all(space)  # sentences the worker has not written yet
        rows = list(ReviewSentence.objects.filter(space=space, product_id__in=busiest).values_list("text", "vector"))
        vectors = np.asarray([np.asarray(v, dtype=np.float32) for _, v in rows])
        inspection = {}
        for aspect in review_insights.configured_aspects():
            similarity = (vectors @ review_insights._phrase_vectors(space.model_name, aspect.phrases).T).max(axis=1)
            inspection[aspect.name] = {
                f"{low:.2f}-{min(high, 1):.2f}": {
                    "sentences": int(((similarity >= low) & (similarity < high)).sum()),
                    "sample": rng.sample(
                        [rows[i][0] for i in np.flatnonzero((similarity >= low) & (similarity < high))],
                        min(args.inspect, int(((similarity >= low) & (similarity < high)).sum())),
                    ),
                }
                for low, high in BANDS
            }
        result["inspection"] = {"products": busiest, "sentences": len(rows), "bands": inspection}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
