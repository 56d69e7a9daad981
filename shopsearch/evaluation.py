"""Search-quality evaluation over a relevance folder (products.jsonl, queries.tsv, qrels.txt; see docs/relevance.md).

The folder's products go into a collection of their own ("eval:<sha of products.jsonl>"), indexed by the shop's
pipeline into the model's embedding space, so the shop's catalogue is never touched and an unchanged folder is
reused. Every query goes through `search.search_products`, the function the API calls; ir-measures does the maths.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import ir_measures
import numpy as np
from ir_measures import MRR, R, nDCG

from . import encoders, indexing, search
from .models import EmbeddingSpace
from .registry import ProductDocument

MEASURES = {"ndcg@10": nDCG @ 10, "recall@100": R @ 100, "mrr@10": MRR @ 10}
DEPTH = 100  # hits per query: Recall@100 needs a hundred


class RelevanceSetError(Exception):
    """The folder is not a relevance set; the message says which file and line and what was expected."""


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


def load_relevance_set(folder: str | Path) -> RelevanceSet:
    """Read and check a relevance folder."""
    folder = Path(folder)
    paths = {name: folder / name for name in ("products.jsonl", "queries.tsv", "qrels.txt")}
    missing = [name for name, path in paths.items() if not path.is_file()]
    if missing:
        raise RelevanceSetError(f"{folder} lacks {', '.join(missing)}; a relevance folder holds products.jsonl, queries.tsv and qrels.txt")
    raw = paths["products.jsonl"].read_bytes()
    products = []
    for number, line in enumerate(raw.decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            products.append((str(row["id"]), ProductDocument(title=str(row["title"]), description=str(row.get("description") or ""))))
        except (ValueError, KeyError, TypeError) as exc:
            raise RelevanceSetError(f"products.jsonl line {number}: expected a JSON object with 'id' and 'title' ({exc})") from exc
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
    return RelevanceSet(folder, products, queries, qrels, hashlib.sha256(raw).hexdigest())


def prepare(relevance: RelevanceSet, model: str | None = None, on_batch: Callable[[int], None] = lambda n: None) -> tuple[EmbeddingSpace, int, int]:
    """Index the set's products in their own collection, in `model`'s space; returns (space, embedded, skipped)."""
    space = indexing.get_or_create_space(model or encoders.configured_model())
    embedded, skipped = indexing.index_collection(relevance.collection, space, relevance.products, on_batch=on_batch)
    return space, embedded, skipped


def evaluate(relevance: RelevanceSet, space: EmbeddingSpace, modes: Iterable[str], max_queries: int | None = None) -> dict:
    """Quality and latency of each mode over the set's queries (the first `max_queries`, in file order)."""
    queries = list(relevance.queries.items())[: max_queries or None]
    judged = {qid for qid, _ in queries}
    qrels = [qrel for qrel in relevance.qrels if qrel.query_id in judged]
    search.encode_query(space, "warm up")  # loading the model is not query latency
    report: dict = {}
    for mode in modes:
        run, latencies = [], []
        for qid, text in queries:
            started = time.perf_counter()
            page = search.search_products(text, mode=mode, page_size=DEPTH, space=space, collection=relevance.collection, highlight=False, facets=False)
            latencies.append((time.perf_counter() - started) * 1000)
            run.extend(ir_measures.ScoredDoc(qid, hit.id, float(DEPTH - rank)) for rank, hit in enumerate(page.hits))
        scores = ir_measures.calc_aggregate(list(MEASURES.values()), qrels, run)
        report[mode] = {name: round(scores[measure], 4) for name, measure in MEASURES.items()}
        report[mode]["latency_ms_p50"] = round(float(np.percentile(latencies, 50)), 1)
        report[mode]["latency_ms_p95"] = round(float(np.percentile(latencies, 95)), 1)
    report["queries"] = len(queries)
    report["products"] = len(relevance.products)
    return report

