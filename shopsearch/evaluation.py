"""Search and similar-products quality over a relevance folder (products.jsonl, queries.tsv, qrels.txt; see
docs/relevance.md) or a review file with item classes.

The folder's products go into a collection of their own ("eval:<sha of products.jsonl>"), indexed by the shop's
pipeline into the model's embedding space, so the shop's catalogue is never touched and an unchanged folder is
reused. Every query goes through `search.search_products`, the function the API calls; ir-measures does the maths.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import ir_measures
import numpy as np
from ir_measures import MRR, R, nDCG

from . import encoders, indexing, recommend, search, spaces
from .conf import setting
from .exceptions import RelevanceSetError
from .models import EmbeddingSpace
from .registry import ProductDocument, ReviewDocument

MEASURES = {"ndcg@10": nDCG @ 10, "recall@100": R @ 100, "mrr@10": MRR @ 10}
DEPTH = 100  # hits per query: Recall@100 needs a hundred


@dataclass
class RelevanceSet:
    folder: Path
    products: list[tuple[str, ProductDocument]]
    queries: dict[str, str]
    qrels: list[ir_measures.Qrel]
    fingerprint: str  # sha256 of products.jsonl: names the collection

    @property
    def collection(self) -> str:
        return f"eval:{self.fingerprint[:16]}"


def load_relevance_set(folder: str | Path, titles_only: bool = False) -> RelevanceSet:
    """Read and check a relevance folder. `titles_only`: every product keeps its title and loses its description,
    in a collection of its own: the same queries and judgments against short texts, where the embedding model knows
    less than the words do (the situation of a hardware catalogue of short titles)."""
    folder = Path(folder)
    paths = {name: folder / name for name in ("products.jsonl", "queries.tsv", "qrels.txt")}
    missing = [name for name, path in paths.items() if not path.is_file()]
    if missing:
        raise RelevanceSetError(
            f"{folder} lacks {', '.join(missing)}; a relevance folder holds products.jsonl, queries.tsv and qrels.txt"
        )
    raw = paths["products.jsonl"].read_bytes()
    products = []
    for number, line in enumerate(raw.decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            description = "" if titles_only else str(row.get("description") or "")
            products.append((str(row["id"]), ProductDocument(title=str(row["title"]), description=description)))
        except (ValueError, KeyError, TypeError) as exc:
            raise RelevanceSetError(
                f"products.jsonl line {number}: expected a JSON object with 'id' and 'title' ({exc})"
            ) from exc
    queries = {}
    for number, line in enumerate(paths["queries.tsv"].read_text("utf-8").splitlines(), 1):
        if line.strip():
            qid, tab, text = line.partition("\t")
            if not tab or not text.strip():
                raise RelevanceSetError(f"queries.tsv line {number}: expected 'query_id<TAB>query text', got {line!r}")
            queries[qid.strip()] = text.strip()
    try:
        qrels = list(ir_measures.read_trec_qrels(str(paths["qrels.txt"])))
    except (ValueError, IndexError) as exc:
        raise RelevanceSetError(f"qrels.txt: expected lines 'query_id 0 product_id grade' ({exc})") from exc
    if not products or not queries or not qrels:
        raise RelevanceSetError(f"{folder}: products, queries and qrels must each have at least one line")
    return RelevanceSet(
        folder, products, queries, qrels, hashlib.sha256(raw + (b"\ntitles-only" if titles_only else b"")).hexdigest()
    )


def prepare(
    relevance: RelevanceSet, model: str | None = None, on_batch: Callable[[int], None] = lambda n: None
) -> tuple[EmbeddingSpace, int, int]:
    """Index the set's products in their own collection, in `model`'s space; returns (space, embedded, skipped)."""
    space = spaces.get_or_create_space(model or encoders.configured_model())
    embedded, skipped = indexing.index_collection(relevance.collection, space, relevance.products, on_batch=on_batch)
    return space, embedded, skipped


def evaluate(
    relevance: RelevanceSet,
    space: EmbeddingSpace,
    modes: Iterable[str],
    max_queries: int | None = None,
    understand: bool = True,
) -> dict:
    """Quality and latency of each mode over the set's queries (the first `max_queries`, in file order); with
    `understand` False the queries are searched as typed (what query understanding and typo correction add)."""
    queries = list(relevance.queries.items())[: max_queries or None]
    judged = {qid for qid, _ in queries}
    qrels = [qrel for qrel in relevance.qrels if qrel.query_id in judged]
    search.encode_query(space, "warm up")  # loading the model is not query latency
    report: dict = {}
    for mode in modes:
        search.clear_query_cache()  # every mode pays for encoding its queries, as a first search does
        run, latencies = [], []
        for qid, text in queries:
            started = time.perf_counter()
            page = search.search_products(
                text,
                mode=mode,
                page_size=DEPTH,
                space=space,
                collection=relevance.collection,
                highlight=False,
                facets=False,
                understand=understand,
            )
            latencies.append((time.perf_counter() - started) * 1000)
            run.extend(ir_measures.ScoredDoc(qid, hit.id, float(DEPTH - rank)) for rank, hit in enumerate(page.hits))
        scores = ir_measures.calc_aggregate(list(MEASURES.values()), qrels, run)
        report[mode] = {name: round(scores[measure], 4) for name, measure in MEASURES.items()}
        report[mode]["latency_ms_p50"] = round(float(np.percentile(latencies, 50)), 1)
        report[mode]["latency_ms_p95"] = round(float(np.percentile(latencies, 95)), 1)
    report["queries"] = len(queries)
    report["products"] = len(relevance.products)
    return report


# --- similar products ---------------------------------------------------------------------------------------------

SIMILAR_DEPTH = 10  # neighbours per product: co-relevance precision@10 and same_class@10


def load_reviews(path: str | Path) -> list[dict]:
    """Rows of a review file (reviews.jsonl: `id`, `product_id`, `text`, optional `title`, `rating`, `class`)."""
    rows = []
    for number, line in enumerate(Path(path).read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            rows.append(
                {
                    "id": str(row["id"]),
                    "product_id": str(row["product_id"]),
                    "text": str(row["text"]),
                    "title": str(row.get("title") or ""),
                    "rating": row.get("rating"),
                    "class": row.get("class"),
                    "department": row.get("department"),
                    "division": row.get("division"),
                }
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise RelevanceSetError(
                f"{path} line {number}: expected a JSON object with 'id', 'product_id' and 'text' ({exc})"
            ) from exc
    if not rows:
        raise RelevanceSetError(f"{path} has no reviews")
    return rows


def review_documents(rows: list[dict]) -> list[tuple[str, ReviewDocument]]:
    return [
        (
            row["id"],
            ReviewDocument(product_id=row["product_id"], text=row["text"], title=row["title"], rating=row["rating"]),
        )
        for row in rows
    ]


def _neighbours(space: EmbeddingSpace, collection: str, object_id: str, review_weight: float) -> list[str]:
    hits = recommend.similar_products(
        object_id, limit=SIMILAR_DEPTH, review_weight=review_weight, space=space, collection=collection
    )
    return [hit.id for hit in hits]


def corelevance(
    relevance: RelevanceSet, model: str | None = None, on_batch: Callable[[int], None] = lambda n: None
) -> dict:
    """Co-relevance precision@10: for every (query, product) graded at the set's top grade, the share of the
    product's 10 most similar products graded ≥ 1 for that query; averaged. With the review blend too when the
    folder has a reviews.jsonl (same format as the review sets) for its products."""
    reviews_file = relevance.folder / "reviews.jsonl"
    reviews = review_documents(load_reviews(reviews_file)) if reviews_file.is_file() else []
    space = spaces.get_or_create_space(model or encoders.configured_model())
    indexing.index_collection(relevance.collection, space, relevance.products, on_batch=on_batch, reviews=reviews)
    top = max(qrel.relevance for qrel in relevance.qrels)
    relevant: dict[str, set[str]] = {}
    for qrel in relevance.qrels:
        if qrel.relevance >= 1:
            relevant.setdefault(qrel.query_id, set()).add(qrel.doc_id)
    known = {object_id for object_id, _ in relevance.products}
    pairs = [(qrel.query_id, qrel.doc_id) for qrel in relevance.qrels if qrel.relevance == top and qrel.doc_id in known]
    weights = {
        "corelevance_precision@10": 0.0,
        "corelevance_precision@10_with_reviews": setting("SIMILAR_REVIEW_WEIGHT") if reviews else None,
    }
    report: dict = {}
    for name, weight in weights.items():
        if weight is None:
            report[name] = None
            continue
        shares = [
            len(set(_neighbours(space, relevance.collection, doc_id, weight)) & relevant[qid]) / SIMILAR_DEPTH
            for qid, doc_id in pairs
        ]
        report[name] = round(float(np.mean(shares)), 4)
    return {
        **report,
        "n": len(pairs),
        "top_grade": top,
        "products": len(relevance.products),
        "reviews": len(reviews),
        "review_weight": setting("SIMILAR_REVIEW_WEIGHT"),
    }


def same_class(path: str | Path, model: str | None = None, on_batch: Callable[[int], None] = lambda n: None) -> dict:
    """same_class@10 on a review file whose reviews carry their item's class (e.g. the clothing reviews): the share
    of each item's 10 most similar items that have its class, without and with the review blend.

    Each item becomes a product described only by its department and division, never its class (the label being
    predicted), in a collection of its own; its reviews are indexed with it, so the blend sees what customers wrote.
    """
    raw = Path(path).read_bytes()
    rows = load_reviews(path)
    items: dict[str, dict] = {}
    for row in rows:
        items.setdefault(
            row["product_id"], {"classes": [], "department": row["department"], "division": row["division"]}
        )["classes"].append(row["class"])
    products, labels = [], {}
    for product_id, item in items.items():
        classes = [label for label in item["classes"] if label]
        if classes:
            labels[product_id] = max(set(classes), key=classes.count)
        department, division = item["department"] or "General", item["division"] or "General"
        # The source's item numbers run by class: the title carries a hash of the id instead, so it says nothing of the
        # class.
        name = hashlib.sha256(product_id.encode()).hexdigest()[:8]
        products.append(
            (
                product_id,
                ProductDocument(
                    title=f"{department} item {name}",
                    description=f"From the {department} department, {division} division.",
                ),
            )
        )
    if not labels:
        raise RelevanceSetError(f"{path}: no review has a 'class'; same_class@10 needs the item classes")
    collection = f"eval:{hashlib.sha256(raw).hexdigest()[:16]}"
    space = spaces.get_or_create_space(model or encoders.configured_model())
    indexing.index_collection(collection, space, products, on_batch=on_batch, reviews=review_documents(rows))
    report: dict = {}
    for name, weight in (("same_class@10", 0.0), ("same_class@10_with_reviews", setting("SIMILAR_REVIEW_WEIGHT"))):
        shares = [
            sum(labels.get(other) == label for other in _neighbours(space, collection, product_id, weight))
            / SIMILAR_DEPTH
            for product_id, label in labels.items()
        ]
        report[name] = round(float(np.mean(shares)), 4)
    return {**report, "n": len(labels), "reviews": len(rows), "review_weight": setting("SIMILAR_REVIEW_WEIGHT")}
