"""With no merchandising rules and no synonyms, is search exactly what it was? Prints JSON.

Indexes a relevance folder (default ../shared/data/crowdflower_dev) in its own collection (evaluation.prepare; vectors
already in the space are reused), then runs evaluation.evaluate twice per mode: through search.search_products as
shipped (the rules wrapper, no rules) and through the unwrapped function; and compares every query's hit list.
Usage: python benchmarks/rules_identity.py [DATASET_DIR] [--modes=keyword,semantic,hybrid] [--database=NAME]
       [--keyword-only]
(--keyword-only: keyword mode on the documents an earlier, even interrupted, run wrote; nothing is embedded)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine, prepared_documents, setup_django  # noqa: E402


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    modes = next(
        (a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--modes=")), "keyword,semantic,hybrid"
    ).split(",")
    database = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--database=")), "shopsearch_bench_rules")
    keyword_only = "--keyword-only" in sys.argv[1:]
    modes = ["keyword"] if keyword_only else modes
    folder = Path(args[0]) if args else ROOT.parent / "shared" / "data" / "crowdflower_dev"
    setup_django(database)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from shopsearch import evaluation, rules, search
    from shopsearch.models import Rule, Synonym

    assert not Rule.objects.exists() and not Synonym.objects.exists(), "this database must have no rules"
    relevance = evaluation.load_relevance_set(folder)
    if keyword_only:
        space, embedded, skipped = prepared_documents(relevance), 0, 0
    else:
        space, embedded, skipped = evaluation.prepare(relevance)
    shipped = search.search_products
    unwrapped = shipped.__wrapped__.__wrapped__  # under analytics.logged and rules.merchandised
    queries = list(relevance.queries.items())
    differing = {}
    for mode in modes:
        lists = []
        for function in (shipped, unwrapped):
            lists.append(
                [
                    [
                        h.id
                        for h in function(
                            text,
                            mode,
                            page_size=evaluation.DEPTH,
                            space=space,
                            collection=relevance.collection,
                            highlight=False,
                            facets=False,
                        ).hits
                    ]
                    for _, text in queries
                ]
            )
        differing[mode] = sum(a != b for a, b in zip(*lists, strict=True))
    with_rules = evaluation.evaluate(relevance, space, modes)
    search.search_products = unwrapped
    try:
        without = evaluation.evaluate(relevance, space, modes)
    finally:
        search.search_products = shipped
    quality = {mode: {k: v for k, v in with_rules[mode].items() if not k.startswith("latency")} for mode in modes}
    print(
        json.dumps(
            {
                "benchmark": "rules_identity",
                "machine": machine(),
                "data": {
                    "folder": str(folder),
                    "products": len(relevance.products),
                    "queries": len(queries),
                    "embedded": embedded,
                    "reused": skipped,
                },
                "rules": len(rules.snapshot().rules),
                "synonyms": len(rules.snapshot().synonyms),
                "queries_whose_hit_list_differs": differing,
                "metrics_identical": {
                    mode: quality[mode] == {k: v for k, v in without[mode].items() if not k.startswith("latency")}
                    for mode in modes
                },
                "shipped": with_rules,
                "unwrapped": without,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
