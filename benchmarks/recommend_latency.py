"""Recommendation API latency on the demo catalogue (products, reviews and their centroids); prints JSON.

Runs in its own database (shopsearch_bench by default): loads the demo catalogue if it is empty and embeds whatever
is missing (the first run embeds 22,641 reviews: minutes), then seeds synthetic events (sessions of 10 views, two
weeks of views/clicks/add-to-carts; replaced on every run). Each scenario sends every request once to warm up, then
times them once more, in-process through the Django test client (serialisation included, no network).

    .venv/bin/python benchmarks/recommend_latency.py [--requests 200] [--database shopsearch_bench]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine, setup_django  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="shopsearch_bench")
    parser.add_argument("--requests", type=int, default=200, help="requests per scenario")
    args = parser.parse_args()
    os.environ["SHOPSEARCH_THROTTLE_RATES"] = json.dumps({"client": None, "session": None})  # measuring, not throttling
    setup_django(args.database)
    from django.core import signing
    from django.core.management import call_command
    from django.test import Client
    from django.utils import timezone

    from catalog.models import Product, Review
    from shopsearch import recommend, spaces
    from shopsearch.models import SHOP_COLLECTION, Document, Embedding, Event, ReviewVector

    def signed(key: str) -> str:
        """The session id a shopper's browser holds (POST /api/sessions/ issues it): the stored key, signed."""
        return signing.Signer(salt=recommend.SESSION_SALT).sign(key)

    call_command("migrate", verbosity=0)
    if not Product.objects.exists():
        fixtures = ROOT / "catalog" / "fixtures"
        call_command(
            "import_catalog",
            products=fixtures / "demo_products.jsonl.gz",
            reviews=fixtures / "demo_reviews.jsonl.gz",
            no_progress=True,
        )
    space = spaces.ensure_active_space()
    if spaces.missing_count(space) or not ReviewVector.objects.filter(space=space).exists():
        call_command("reindex", no_progress=True)

    rng = random.Random(7)
    products = list(
        Document.objects.filter(collection=SHOP_COLLECTION, kind="product").values_list("object_id", "category")
    )
    ids = [object_id for object_id, _ in products]
    now = timezone.now()
    Event.objects.filter(session_id__startswith="bench-").delete()
    sessions = [f"bench-{n}" for n in range(args.requests)]
    events = [
        Event(type="view", session_id=session, product_id=rng.choice(ids), created_at=now - timedelta(minutes=10 - k))
        for session in sessions
        for k in range(10)
    ]
    events += [
        Event(
            type=rng.choice(["view", "view", "view", "click", "add_to_cart"]),
            session_id=f"bench-t{n % 500}",
            product_id=ids[min(int(rng.expovariate(1 / 150)), len(ids) - 1)],
            created_at=now - timedelta(hours=rng.uniform(0, 24 * 14)),
        )
        for n in range(20000)
    ]
    Event.objects.bulk_create(events, batch_size=5000)

    client = Client(HTTP_HOST="localhost")
    categories = sorted({category for _, category in products if category})
    targets = [rng.choice(ids) for _ in range(args.requests)]

    def examples(strategy: str) -> list[tuple[str, str, dict]]:
        picks = [rng.sample(ids, 10) for _ in range(args.requests)]  # 7 positive, 3 negative
        return [
            (
                "post",
                "/api/recommendations/",
                {"positive": pick[:7], "negative": pick[7:], "strategy": strategy, "limit": 10},
            )
            for pick in picks
        ]

    scenarios = {
        "similar": [("get", f"/api/products/{pk}/similar/", {"limit": 10}) for pk in targets],
        "similar_filtered": [
            ("get", f"/api/products/{pk}/similar/", {"limit": 10, "category": rng.choice(categories)}) for pk in targets
        ],
        "similar_same_category": [
            ("get", f"/api/products/{pk}/similar/", {"limit": 10, "same_category": "true"}) for pk in targets
        ],
        "similar_diversity": [
            ("get", f"/api/products/{pk}/similar/", {"limit": 10, "diversity": "0.5"}) for pk in targets
        ],
        "examples_average_10_ids": examples("average"),
        "examples_best_score_10_ids": examples("best_score"),
        "for_session": [
            ("get", "/api/recommendations/for-session/", {"session": signed(session), "limit": 10})
            for session in sessions
        ],
        "trending": [
            (
                "get",
                "/api/recommendations/trending/",
                {"limit": 10, **({"category": rng.choice(categories)} if n % 2 else {})},
            )
            for n in range(args.requests)
        ],
    }
    results = {}
    for name, requests in scenarios.items():
        for _timed in (False, True):
            latencies = []
            for method, url, params in requests:
                started = time.perf_counter()
                response = (
                    client.get(url, params)
                    if method == "get"
                    else client.post(url, params, content_type="application/json")
                )
                latencies.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (url, response.content[:300])
        latencies.sort()
        results[name] = {
            "median_ms": round(statistics.median(latencies), 2),
            "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
        }
    print(
        json.dumps(
            {
                "benchmark": "recommend_latency",
                "machine": machine(),
                "data": {
                    "products": len(ids),
                    "reviews": Review.objects.count(),
                    "review_centroids": ReviewVector.objects.filter(
                        space=space, document__collection=SHOP_COLLECTION
                    ).count(),
                    "events": Event.objects.count(),
                    "source": "demo catalogue (CC0 clothing reviews) + synthetic events",
                    # evaluation collections share the space's HNSW indexes: queries for the shop scan past
                    # their vectors
                    "vectors_in_space_all_collections": {
                        kind: Embedding.objects.filter(space=space, kind=kind).count() for kind in ("product", "review")
                    },
                    "review_centroids_all_collections": ReviewVector.objects.filter(space=space).count(),
                },
                "requests_per_scenario": args.requests,
                "kind": "in-process Django test client, limit 10, concurrency 1, after one warm-up pass",
                "latency": results,
            }
        )
    )


if __name__ == "__main__":
    main()
