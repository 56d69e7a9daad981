"""Sweep the keyword and fusion settings over a relevance folder and print every result as JSON (last line).

Each row is one setting combination, measured by `evaluation.evaluate` (the API's search function, ir-measures for
the maths) on the folder's own collection, indexed or reused as `evaluate_search` does. The grid is coarse on
purpose: a default should sit on a plateau, not on the single best point of one query set (docs/relevance.md).
Usage: python benchmarks/fusion_sweep.py [DATASET_DIR] [--database NAME]  (default: DATABASE_NAME, else shopsearch)
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine, setup_django  # noqa: E402

if TYPE_CHECKING:
    from shopsearch.evaluation import RelevanceSet

TRIGRAM_WEIGHTS = [0.0, 0.25, 0.5, 0.75, 1.0]
KEYWORD_WEIGHTS = [0.5, 0.75, 1.0, 1.5, 2.0]  # relative to VECTOR_WEIGHT 1.0: only the ratio matters
RRF_KS = [10, 30, 60]


def measure(relevance: RelevanceSet, space, mode: str, **overrides) -> dict:
    from django.conf import settings
    from django.test import override_settings

    from shopsearch import evaluation

    with override_settings(SHOPSEARCH={**getattr(settings, "SHOPSEARCH", {}), **overrides}):
        figures = evaluation.evaluate(relevance, space, [mode])[mode]
    return {
        "mode": mode,
        **overrides,
        "ndcg@10": figures["ndcg@10"],
        "recall@100": figures["recall@100"],
        "mrr@10": figures["mrr@10"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=ROOT.parent / "shared" / "data" / "crowdflower_dev")
    parser.add_argument(
        "--database",
        default=os.environ.get("DATABASE_NAME") or "shopsearch",
        help="database to run in (default: DATABASE_NAME, else shopsearch)",
    )
    args = parser.parse_args()
    setup_django(args.database)
    from shopsearch import evaluation

    folder = args.folder
    relevance = evaluation.load_relevance_set(folder)
    space, _, _ = evaluation.prepare(relevance)
    rows = [measure(relevance, space, "keyword", TRIGRAM_WEIGHT=t) for t in TRIGRAM_WEIGHTS]
    rows += [
        measure(relevance, space, "hybrid", FUSION="convex", TRIGRAM_WEIGHT=t, KEYWORD_WEIGHT=w, VECTOR_WEIGHT=1.0)
        for t, w in itertools.product([0.5, 0.75, 1.0], KEYWORD_WEIGHTS)
    ]
    rows += [
        measure(relevance, space, "hybrid", FUSION="rrf", RRF_K=k, KEYWORD_WEIGHT=1.0, VECTOR_WEIGHT=1.0)
        for k in RRF_KS
    ]
    for row in rows:
        print(json.dumps(row), file=sys.stderr)
    print(
        json.dumps(
            {
                "machine": machine(),
                "database": args.database,
                "folder": str(folder),
                "queries": len(relevance.queries),
                "products": len(relevance.products),
                "rows": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
