"""How much a synonym set built from a catalogue's own texts moves search quality on its judged queries. Prints JSON.

The set is made from the products' titles and descriptions alone (never from the queries or the judgments), by one
rule: spellings of the same compound that the catalogue itself uses. A hyphenated word ("t-shirt"; neither part a
number, "1-2" is a range) is grouped with
its closed form ("tshirt") and its spaced form ("t shirt") wherever those occur too; a closed word ("backpack") is
grouped with the two words it splits into ("back pack") when the catalogue writes that pair. Each form must occur in
at least --min-products products. The groups go into Synonym rows (two-way groups) of the benchmark's database, the
folder is evaluated with and without them (evaluation.evaluate: nDCG@10, Recall@100, MRR@10 per mode), and the rows
are deleted again. Also reported: the groups, and how many judged queries any group touches (read after the set
is made, to explain the effect).

Usage: python benchmarks/synonyms.py [DATASET_DIR] [--database NAME] [--modes keyword,semantic,hybrid]
       [--min-products 3] [--keyword-only]
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

from common import ROOT, machine, prepared_documents, setup_django

TOKEN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def compound_groups(texts: list[str], min_products: int) -> list[list[str]]:
    """Groups of the spellings of one compound that at least `min_products` of these texts use (see the docstring)."""
    words, pairs = Counter(), Counter()
    for text in texts:
        tokens = TOKEN.findall(text.lower())
        words.update(set(tokens))
        pairs.update({f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False) if "-" not in a + b})
    common = lambda form: (pairs if " " in form else words)[form] >= min_products  # noqa: E731
    groups: list[set[str]] = []
    for word in sorted(w for w in words if words[w] >= min_products):
        if word.count("-") == 1 and not any(part.isdigit() for part in word.split("-")):  # "1-2" is a range, not a word
            left, right = word.split("-")
            forms = {word} | {form for form in (left + right, f"{left} {right}") if common(form)}
        elif word.isalpha() and len(word) >= 6:
            forms = {word} | {
                f"{word[:i]} {word[i:]}" for i in range(3, len(word) - 2) if common(f"{word[:i]} {word[i:]}")
            }
        else:
            continue
        if len(forms) > 1:
            groups.append(forms)
    merged: list[set[str]] = []
    for group in groups:  # "t-shirt" and "tshirt" may each have made one: one group per compound
        overlapping = [other for other in merged if other & group]
        for other in overlapping:
            merged.remove(other)
            group |= other
        merged.append(group)
    return sorted(sorted(group) for group in merged)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=str(ROOT.parent / "shared" / "data" / "crowdflower_dev"))
    parser.add_argument("--database", default="shopsearch_bench_rules")
    parser.add_argument("--modes", default="keyword,semantic,hybrid")
    parser.add_argument("--min-products", type=int, default=3)
    parser.add_argument(
        "--keyword-only",
        action="store_true",
        help="keyword mode on the documents an earlier (even interrupted) run wrote; nothing is embedded",
    )
    args = parser.parse_args()
    modes = ["keyword"] if args.keyword_only else args.modes.split(",")
    setup_django(args.database)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from shopsearch import analytics, evaluation, rules
    from shopsearch.models import Rule, Synonym

    assert not Rule.objects.exists() and not Synonym.objects.exists(), "this database must have no rules or synonyms"
    relevance = evaluation.load_relevance_set(Path(args.folder))
    texts = [f"{document.title} {document.description}" for _, document in relevance.products]
    groups = compound_groups(texts, args.min_products)
    if args.keyword_only:
        space, embedded, reused = prepared_documents(relevance), 0, 0
    else:
        space, embedded, reused = evaluation.prepare(relevance)
    without = evaluation.evaluate(relevance, space, modes)
    Synonym.objects.bulk_create([Synonym(kind=Synonym.Kind.GROUP, synonyms=", ".join(group)) for group in groups])
    rules.invalidate()
    try:
        snap = rules.snapshot()
        touched = sum(bool(rules.synonyms_for(analytics.normalize(text), snap)) for text in relevance.queries.values())
        with_synonyms = evaluation.evaluate(relevance, space, modes)
    finally:
        Synonym.objects.all().delete()
        rules.invalidate()
    quality = ("ndcg@10", "recall@100", "mrr@10")
    print(
        json.dumps(
            {
                "benchmark": "synonyms",
                "machine": machine(),
                "data": {
                    "folder": args.folder,
                    "products": len(relevance.products),
                    "queries": len(relevance.queries),
                    "embedded": embedded,
                    "reused": reused,
                },
                "method": "compound spellings in the products' titles and descriptions",
                "min_products": args.min_products,
                "groups": len(groups),
                "queries_touched": touched,
                "delta": {
                    mode: {m: round(with_synonyms[mode][m] - without[mode][m], 4) for m in quality} for mode in modes
                },
                "without": without,
                "with_synonyms": with_synonyms,
                "synonym_groups": [", ".join(group) for group in groups],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
