"""Typo tolerance on a judged relevance folder: the same queries clean and with one typo each, every mode, as JSON.

The typo'd copy is made here, at run time, never stored: for each query, a generator seeded with the sha256 of its
query id picks one of its words of at least 5 letters (a query without one stays as it is and is counted) and makes
one edit at a random position other than the first letter (shoppers rarely miss that one): delete a letter, insert
a random letter, replace one by another, or swap two neighbours (each edit type equally likely). Both versions run
through `search.search_products` with the same judgments (evaluation.evaluate); the target is hybrid nDCG@10 on the
typo'd queries >= 0.9 x on the clean ones. Also printed: how many typo'd words the vocabulary corrected back to the
word typed before the typo, and a few examples.

With `--modes keyword` on a collection an earlier `evaluate_search` loaded, nothing is embedded (the keyword
retriever reads no vectors).
Usage: python benchmarks/typos.py DATABASE [FOLDER] [--titles-only] [--modes keyword,semantic,hybrid]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import random
import re
import string
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine, setup_django  # noqa: E402

MIN_LETTERS = 5


def typo(query_id: str, text: str) -> tuple[str, str | None, str | None]:
    """(the query with one edit in one word of >= MIN_LETTERS letters, the word before, after); unchanged if none."""
    rng = random.Random(hashlib.sha256(query_id.encode()).digest())
    words = [match for match in re.finditer(r"[^\W\d_]+", text) if len(match.group()) >= MIN_LETTERS]
    if not words:
        return text, None, None
    match = rng.choice(words)
    word, edit, at = (
        match.group(),
        rng.choice(("delete", "insert", "replace", "swap")),
        rng.randrange(1, len(match.group())),
    )
    other = rng.choice([letter for letter in string.ascii_lowercase if letter != word[at].lower()])
    if edit == "delete":
        changed = word[:at] + word[at + 1 :]
    elif edit == "insert":
        changed = word[:at] + other + word[at:]
    elif edit == "replace":
        changed = word[:at] + other + word[at + 1 :]
    else:
        at = min(at, len(word) - 2)
        changed = (
            word[:at] + word[at + 1] + word[at] + word[at + 2 :]
            if word[at] != word[at + 1]
            else word[:at] + other + word[at + 1 :]
        )
    return text[: match.start()] + changed + text[match.end() :], word.lower(), changed.lower()


def first_products(relevance, count: int):
    """The relevance set cut to its first `count` products (a collection of its own), their judgments, and the
    queries that keep a relevant one: a smaller check whose vectors an interrupted load already made."""
    products = relevance.products[:count]
    kept = {object_id for object_id, _ in products}
    qrels = [qrel for qrel in relevance.qrels if qrel.doc_id in kept]
    answered = {qrel.query_id for qrel in qrels if qrel.relevance >= 1}
    fingerprint = hashlib.sha256(f"{relevance.fingerprint} first {count}".encode()).hexdigest()
    return dataclasses.replace(
        relevance,
        products=products,
        qrels=[q for q in qrels if q.query_id in answered],
        queries={qid: text for qid, text in relevance.queries.items() if qid in answered},
        fingerprint=fingerprint,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("database")
    parser.add_argument("folder", nargs="?", default=str(ROOT.parent / "shared" / "data" / "crowdflower_dev"))
    parser.add_argument("--titles-only", action="store_true")
    parser.add_argument("--modes", default="keyword,semantic,hybrid")
    parser.add_argument(
        "--products",
        type=int,
        default=None,
        help="only the first N products (file order), their judgments and the queries that keep a relevant one",
    )
    args = parser.parse_args()
    setup_django(args.database)
    from shopsearch import encoders, evaluation, query_understanding, search, spaces, vocabulary
    from shopsearch.models import Document

    relevance = evaluation.load_relevance_set(args.folder, titles_only=args.titles_only)
    if args.products:
        relevance = first_products(relevance, args.products)
    modes = args.modes.split(",")
    if modes == ["keyword"] and Document.objects.filter(collection=relevance.collection).exists():
        # the keyword retriever needs no vectors: the collection an earlier evaluate_search loaded, words recounted
        space, embedded = spaces.get_or_create_space(encoders.configured_model()), 0
        vocabulary.rebuild(relevance.collection)
    else:
        space, embedded, _ = evaluation.prepare(relevance)
    made = {qid: typo(qid, text) for qid, text in relevance.queries.items()}
    typod = dataclasses.replace(relevance, queries={qid: text for qid, (text, _, _) in made.items()})
    edited = {qid: (before, after) for qid, (_, before, after) in made.items() if before is not None}
    corrected_back = examples = 0
    shown = []
    for qid, (before, after) in edited.items():
        meant = query_understanding.interpret(typod.queries[qid], search.Filters(), relevance.collection)
        back = meant.corrections.get(after) == before
        corrected_back += back
        if examples < 12:
            shown.append({"clean": relevance.queries[qid], "typo": typod.queries[qid], "searched": meant.keyword_text})
            examples += 1
    report = {
        "machine": machine(),
        "data": {
            "folder": str(args.folder),
            "titles_only": args.titles_only,
            "products": len(relevance.products),
            "queries": len(relevance.queries),
            "typod_queries": len(edited),
            "embedded_now": embedded,
        },
        "clean": evaluation.evaluate(relevance, space, modes),
        "typo": evaluation.evaluate(typod, space, modes),
        "clean_as_typed": evaluation.evaluate(relevance, space, modes, understand=False),
        "typo_as_typed": evaluation.evaluate(typod, space, modes, understand=False),
        "typo_words_corrected_back": corrected_back,
        "examples": shown,
    }
    report["typo_over_clean_ndcg@10"] = {
        mode: round(report["typo"][mode]["ndcg@10"] / report["clean"][mode]["ndcg@10"], 4) for mode in modes
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
