"""Sweep the keyword and fusion settings over a relevance folder and print every result as JSON (last line).

Each row is one setting combination, measured by `evaluation.evaluate` (the API's search function, ir-measures for
the maths) on the folder's own collection, indexed or reused as `evaluate_search` does. The grid is coarse on
purpose: a default should sit on a plateau, not on the single best point of one query set (docs/relevance.md).
Usage: python benchmarks/fusion_sweep.py [DATASET_DIR]
"""
from __future__ import annotations

import itertools
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopsite.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.test import override_settings  # noqa: E402

from shopsearch import evaluation  # noqa: E402

TRIGRAM_WEIGHTS = [0.0, 0.25, 0.5, 0.75, 1.0]
KEYWORD_WEIGHTS = [0.5, 0.75, 1.0, 1.5, 2.0]  # relative to VECTOR_WEIGHT 1.0: only the ratio matters
RRF_KS = [10, 30, 60]


def measure(relevance: evaluation.RelevanceSet, space, mode: str, **overrides) -> dict:
    with override_settings(SHOPSEARCH={**getattr(settings, "SHOPSEARCH", {}), **overrides}):
        figures = evaluation.evaluate(relevance, space, [mode])[mode]
    return {"mode": mode, **overrides, "ndcg@10": figures["ndcg@10"], "recall@100": figures["recall@100"], "mrr@10": figures["mrr@10"]}


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "crowdflower_dev"
    relevance = evaluation.load_relevance_set(folder)
    space, _, _ = evaluation.prepare(relevance)
    rows = [measure(relevance, space, "keyword", TRIGRAM_WEIGHT=t) for t in TRIGRAM_WEIGHTS]
    rows += [measure(relevance, space, "hybrid", FUSION="convex", TRIGRAM_WEIGHT=t, KEYWORD_WEIGHT=w, VECTOR_WEIGHT=1.0)
             for t, w in itertools.product([0.5, 0.75, 1.0], KEYWORD_WEIGHTS)]
    rows += [measure(relevance, space, "hybrid", FUSION="rrf", RRF_K=k, KEYWORD_WEIGHT=1.0, VECTOR_WEIGHT=1.0) for k in RRF_KS]
    for row in rows:
        print(json.dumps(row), file=sys.stderr)
    print(json.dumps({"folder": str(folder), "queries": len(relevance.queries), "products": len(relevance.products),
                      "cpus": os.cpu_count(), "load_average": os.getloadavg(), "rows": rows}))


if __name__ == "__main__":
    main()
