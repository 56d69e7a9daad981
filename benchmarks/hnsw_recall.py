"""Recall of the vector searches against an exact scan, for freshly indexed and for just-edited rows; prints JSON.

Loads a catalogue into the shop's own tables of a database of its own (`import_catalog` + `reindex`, the normal
pipeline), then edits rows through the ORM so the signals index them inline (CELERY_TASK_ALWAYS_EAGER), exactly as
a shop's save does, and measures each vector search against numpy over the stored vectors:

- products, `fresh`: queries are the titles of untouched products;
- products, `edited`: products get a new, distinctive title ("<word> <word> edition"; the issue's experiment), the
  query is that title; `edited_filtered` adds the product's category as a filter;
- products, `created_like_edited`: new products of the same shape (such a title on an existing product's
  description, attributes and category), to tell an effect of editing from an effect of the text's shape;
- reviews (with --reviews N): `edited` reviews get another review's text ("Update: …"), the query is that text;
  review centroids: the edited reviews' products' refreshed centroids, and untouched ones, as queries.

recall@10 counts a returned hit as right when its exact distance is within 1e-4 of the exact 10th (ties among the
demo's near-identical items are not misses); top1 is the edited row itself ranked first. Each search is measured
twice: `served` is what search serves (the exact-or-HNSW decision, sql.scan_exactly); `hnsw` forces the HNSW index
(EXACT_SEARCH_MAX_ROWS = 0), which is what a catalogue above that size gets. Edits accumulate in the database:
use a fresh --database for clean figures.

    .venv/bin/python benchmarks/hnsw_recall.py --catalogue demo --reviews 3000 --database bench_hnsw_demo
    .venv/bin/python benchmarks/hnsw_recall.py --catalogue ../shared/data/crowdflower_dev --database bench_hnsw_10k
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine, setup_django, tie_aware_recall  # noqa: E402

WORDS = (
    "amber basil cedar dune ember fjord garnet harbor indigo juniper kestrel lagoon meadow nectar onyx pebble "
    "quartz raven saffron tundra umber velvet willow xenon yarrow zephyr copper falcon glacier hazel iris jasper "
    "lotus maple nova orchid pine quill sierra topaz"
).split()
CATEGORIES = [f"Category {n:02d}" for n in range(12)]


def catalogue_files(source: str, reviews: int, folder: Path) -> tuple[Path, Path | None]:
    """The products (and the first `reviews` reviews) to import. A relevance folder's products get a category drawn
    from a hash of their id (12 categories), so category filters have something to select."""
    fixtures = ROOT / "catalog" / "fixtures"
    if source == "demo":
        products = fixtures / "demo_products.jsonl.gz"
    else:
        products = folder / "products.jsonl"
        with (
            open(Path(source) / "products.jsonl", encoding="utf-8") as rows,
            products.open("w", encoding="utf-8") as out,
        ):
            for line in rows:
                row = json.loads(line)
                row["category"] = CATEGORIES[int(hashlib.sha256(row["id"].encode()).hexdigest(), 16) % 12]
                out.write(json.dumps(row) + "\n")
    if not reviews:
        return products, None
    subset = folder / "reviews.jsonl"
    with (
        gzip.open(fixtures / "demo_reviews.jsonl.gz", "rt", encoding="utf-8") as rows,
        subset.open("w", encoding="utf-8") as out,
    ):
        for _, line in zip(range(reviews), rows, strict=False):
            out.write(line)
    return products, subset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--catalogue", default="demo", help="'demo' (the shipped clothing catalogue) or a relevance folder"
    )
    parser.add_argument("--database", default="bench_hnsw")
    parser.add_argument("--edits", type=int, default=30, help="products (and reviews) edited")
    parser.add_argument("--queries", type=int, default=60, help="queries on untouched rows")
    parser.add_argument(
        "--reviews", type=int, default=0, help="demo catalogue only: import the first N reviews and measure them too"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ef-search", type=int, help="HNSW_EF_SEARCH for this run (default: the setting)")
    args = parser.parse_args()
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    setup_django(args.database)

    from django.conf import settings

    if args.ef_search:
        settings.SHOPSEARCH = {**settings.SHOPSEARCH, "HNSW_EF_SEARCH": args.ef_search}
    from django.core.management import call_command
    from django.db import transaction
    from django.test import override_settings

    from catalog.models import Product
    from shopsearch import search, spaces
    from shopsearch.models import SHOP_COLLECTION, Document, Embedding

    call_command("migrate", verbosity=0)
    with tempfile.TemporaryDirectory() as folder:
        products_file, reviews_file = catalogue_files(args.catalogue, args.reviews, Path(folder))
        started = time.monotonic()
        call_command(
            "import_catalog",
            products=products_file,
            reviews=reviews_file,
            no_progress=True,
            stdout=open(os.devnull, "w"),
        )
        call_command("reindex", no_progress=True, stdout=open(os.devnull, "w"))
        load_seconds = time.monotonic() - started
    space = spaces.active_space()
    rng = random.Random(args.seed)
    hnsw_only = override_settings(SHOPSEARCH={**settings.SHOPSEARCH, "EXACT_SEARCH_MAX_ROWS": 0})

    def new_title() -> str:
        return f"{rng.choice(WORDS)} {rng.choice(WORDS)} edition"

    untouched = list(Product.objects.exclude(title__endswith=" edition").order_by("pk").values_list("pk", flat=True))
    edited = Product.objects.in_bulk(rng.sample(untouched, args.edits))
    for product in edited.values():
        product.title = new_title()
        with transaction.atomic():
            product.save()
    templates = [Product.objects.get(pk=pk) for pk in rng.sample(untouched, args.edits)]
    created = []
    for template in templates:
        with transaction.atomic():
            created.append(
                Product.objects.create(
                    external_id=f"bench-{time.time_ns()}-{len(created)}",
                    title=new_title(),
                    description=template.description,
                    attributes=template.attributes,
                    category=template.category,
                    price=template.price,
                )
            )
    fresh = Product.objects.in_bulk(rng.sample([pk for pk in untouched if pk not in edited], args.queries))

    rows = list(
        Embedding.objects.filter(space=space, kind="product", document__collection=SHOP_COLLECTION).values_list(
            "document__object_id", "document__category", "vector"
        )
    )
    ids = np.array([row[0] for row in rows])
    categories = np.array([row[1] or "" for row in rows])
    matrix = np.asarray([row[2] for row in rows], dtype=np.float32)

    def product_scenario(products, filtered: bool = False, target: bool = True) -> dict:
        figures: dict = {}
        for path in ("served", "hnsw"):
            recalls, firsts = [], []
            for product in products:
                category = product.category.name if filtered and product.category_id else None
                vector = search.encode_query(space, product.title)
                mask = categories == category if category else np.ones(len(ids), dtype=bool)
                exact = 1.0 - matrix[mask] @ vector
                filters = search.Filters(category=category)
                if path == "hnsw":
                    with hnsw_only:
                        returned = search.nearest_products(space, vector, filters, 100)
                else:
                    returned = search.nearest_products(space, vector, filters, 100)
                recalls.append(tie_aware_recall(returned, exact))
                if target:
                    first = (
                        Document.objects.filter(pk=returned[0][0]).values_list("object_id", flat=True).first()
                        if returned
                        else None
                    )
                    firsts.append(first == str(product.pk))
            figures[path] = {
                "recall@10": round(float(np.mean(recalls)), 4),
                "min_recall@10": round(float(np.min(recalls)), 2),
            }
            if target:
                figures[path]["top1"] = f"{sum(firsts)}/{len(firsts)}"
        if target:  # how often the exact scan itself puts the row first (a query can match another row better)
            exact_first = 0
            for product in products:
                vector = search.encode_query(space, product.title)
                category = product.category.name if filtered and product.category_id else None
                mask = categories == category if category else np.ones(len(ids), dtype=bool)
                exact_first += ids[mask][int(np.argmax(matrix[mask] @ vector))] == str(product.pk)
            figures["exact_top1"] = f"{exact_first}/{len(products)}"
        return figures

    report = {
        "benchmark": "hnsw_recall",
        "machine": machine(),
        "catalogue": args.catalogue,
        "database": args.database,
        "products": len(ids),
        "space": space.model_identity,
        "hnsw": {
            "m": search.setting("HNSW_M"),
            "ef_construction": search.setting("HNSW_EF_CONSTRUCTION"),
            "ef_search": search.setting("HNSW_EF_SEARCH"),
        },
        "exact_search_max_rows": search.setting("EXACT_SEARCH_MAX_ROWS"),
        "load_and_index_seconds": round(load_seconds, 1),
        "edits": args.edits,
        "queries": args.queries,
        "products_fresh": product_scenario(fresh.values(), target=False),
        "products_edited": product_scenario(edited.values()),
        "products_edited_filtered": product_scenario(edited.values(), filtered=True),
        "products_created_like_edited": product_scenario(created),
    }
    if args.reviews:
        report.update(review_scenarios(args, rng, space, hnsw_only))
    print(json.dumps(report))


def review_scenarios(args, rng: random.Random, space, hnsw_only) -> dict:
    """Edit reviews through the ORM, then measure the nearest-review search and the review-centroid search."""
    from django.db import transaction

    from catalog.models import Review
    from shopsearch import recommend, search
    from shopsearch.models import SHOP_COLLECTION, Document, Embedding, ReviewVector

    reviews = list(Review.objects.exclude(text__startswith="Update: ").order_by("pk"))
    edited = rng.sample(reviews, args.edits)
    for review in edited:
        review.text = "Update: " + rng.choice(reviews).text
        with transaction.atomic():
            review.save()
    rows = list(
        Embedding.objects.filter(space=space, kind="review", document__collection=SHOP_COLLECTION).values_list(
            "document__object_id", "vector"
        )
    )
    review_ids = np.array([row[0] for row in rows])
    review_docs = dict(
        Document.objects.filter(collection=SHOP_COLLECTION, kind="review").values_list("object_id", "pk")
    )
    review_matrix = np.asarray([row[1] for row in rows], dtype=np.float32)
    figures: dict = {"reviews": len(review_ids)}

    def measure(path: str) -> dict:
        recalls, firsts = [], []
        for review in edited:
            vector = search.encode_query(space, review.text)
            exact = 1.0 - review_matrix @ vector
            if path == "hnsw":
                with hnsw_only:
                    returned = search.nearest_reviews(space, vector, 10)
            else:
                returned = search.nearest_reviews(space, vector, 10)
            recalls.append(tie_aware_recall([(doc, distance) for doc, _, distance in returned], exact))
            firsts.append(bool(returned) and returned[0][0] == review_docs[str(review.pk)])
        return {"recall@10": round(float(np.mean(recalls)), 4), "top1": f"{sum(firsts)}/{len(firsts)}"}

    figures["reviews_edited"] = {path: measure(path) for path in ("served", "hnsw")}

    centroids = {
        doc_id: np.asarray(vector, dtype=np.float32)
        for doc_id, vector in ReviewVector.objects.filter(
            space=space, document__collection=SHOP_COLLECTION
        ).values_list("document_id", "vector")
    }
    centroid_ids = np.array(list(centroids))
    centroid_matrix = np.asarray(list(centroids.values()), dtype=np.float32)
    product_docs = dict(
        Document.objects.filter(collection=SHOP_COLLECTION, kind="product").values_list("object_id", "pk")
    )
    changed = sorted({product_docs[str(review.product_id)] for review in edited} & set(centroids))
    unchanged = rng.sample(sorted(set(centroids) - set(changed)), min(args.queries, len(centroids) - len(changed)))

    def centroid_recall(doc_ids: list[int], path: str) -> dict:
        recalls, firsts = [], []
        for doc_id in doc_ids:
            vector = centroids[doc_id]
            exact = 1.0 - centroid_matrix @ vector
            if path == "hnsw":
                with hnsw_only:
                    returned = recommend.nearest_review_centroids(space, vector, search.Filters(), 100)
            else:
                returned = recommend.nearest_review_centroids(space, vector, search.Filters(), 100)
            recalls.append(tie_aware_recall(returned, exact))
            firsts.append(bool(returned) and returned[0][0] == doc_id)
        return {"recall@10": round(float(np.mean(recalls)), 4), "top1": f"{sum(firsts)}/{len(firsts)}"}

    figures["centroids"] = len(centroid_ids)
    figures["centroids_fresh"] = {path: centroid_recall(unchanged, path) for path in ("served", "hnsw")}
    figures["centroids_edited"] = {path: centroid_recall(changed, path) for path in ("served", "hnsw")}
    return figures


if __name__ == "__main__":
    main()
