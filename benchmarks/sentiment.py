"""Review sentiment quality and cost; prints JSON.

Trains the classifier in memory (nothing is saved) on a review file minus its fixed held-out share, then reports
balanced accuracy (positive vs negative) on the held-out share and on other review files, beside the regression
without its out-of-domain fallback, the classifier trained without lexicon features and the VADER lexicon alone;
and the worker's time per review for embedding vs for sentiment. Reviews already embedded in the active space are
reused by content hash; --database (default: DATABASE_NAME, else the demo's shopsearch) needs an active space.
Usage:

    .venv/bin/python benchmarks/sentiment.py ../shared/data/womens_clothing_reviews/reviews.jsonl \
        --other ../shared/data/uci_sentences/yelp.jsonl [--database shopsearch]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, setup_django  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train_file", type=Path)
    parser.add_argument(
        "--database",
        default=os.environ.get("DATABASE_NAME") or "shopsearch",
        help="database whose active space embeds the reviews (default: DATABASE_NAME, else shopsearch)",
    )
    parser.add_argument(
        "--other", type=Path, action="append", default=[], help="more labelled review files to score (other domains)"
    )
    parser.add_argument("--holdout", type=float, default=0.2)
    parser.add_argument("--timing-reviews", type=int, default=256)
    parser.add_argument(
        "--timing-only",
        action="store_true",
        help=(
            "skip training and quality: time the space's active (or shipped default) classifier on the file's"
            " first reviews"
        ),
    )
    args = parser.parse_args()
    setup_django(args.database)
    from django.conf import settings
    from django.test import override_settings
    from sklearn.metrics import balanced_accuracy_score

    from shopsearch import encoders, registry, sentiment
    from shopsearch.spaces import require_active_space

    space = require_active_space()
    if args.timing_only:
        classifier = sentiment.active_classifier(space)
        rows = sentiment.read_review_file(args.train_file)[: args.timing_reviews]
        texts = [
            registry.review_text(registry.ReviewDocument(product_id=None, text=r["text"], title=r.get("title") or ""))
            for r in rows
        ]
        timing = worker_timing(encoders.get_encoder(space.model_name), classifier.weights, texts)
        print(
            json.dumps(
                {
                    "benchmark": "sentiment worker time",
                    "machine": machine(torch_threads=True),  # after the model set them
                    "space": space.model_identity,
                    "classifier": classifier.trained_on,
                    "worker_ms_per_review": timing,
                }
            )
        )
        return
    train = sentiment.file_reviews(space, args.train_file, lambda i: not sentiment.in_holdout(i, args.holdout))
    evaluations = {
        f"{args.train_file.stem} held-out {args.holdout:.0%}": sentiment.file_reviews(
            space, args.train_file, lambda i: sentiment.in_holdout(i, args.holdout)
        )
    }
    for path in args.other:
        evaluations[path.stem] = sentiment.file_reviews(space, path)

    def scores(weights: dict, data, fallback: bool = True) -> dict:
        predictions = sentiment.predict(weights, data.vectors, data.texts, fallback)
        return sentiment.metrics(data.labels, [p.label for p in predictions], [p.score for p in predictions])

    results: dict = {}
    titles = sentiment.title_examples(space, train)
    anchors = sentiment.general_anchors(space)
    weights, cross_validated = sentiment.train(train.vectors, train.texts, train.labels, anchors, titles)
    with override_settings(SHOPSEARCH={**settings.SHOPSEARCH, "SENTIMENT_LEXICON_WEIGHT": 0.0}):
        without_lexicon, _ = sentiment.train(train.vectors, train.texts, train.labels, anchors, titles)
        without_lexicon_scores = {name: scores(without_lexicon, data) for name, data in evaluations.items()}
    analyzer = sentiment._vader()
    for name, data in evaluations.items():
        truth = np.asarray(data.labels)
        polar = truth != "neutral"
        compound = np.asarray([analyzer.polarity_scores(t)["compound"] for t in np.asarray(data.texts)[polar]])
        results[name] = {
            "classifier": scores(weights, data),
            "without_fallback": scores(weights, data, fallback=False),
            "without_lexicon": without_lexicon_scores[name],
            "vader": {
                "balanced_accuracy": round(float(balanced_accuracy_score(truth[polar] == "positive", compound > 0)), 4),
                "n": int(polar.sum()),
            },
        }

    texts = list(evaluations[next(iter(evaluations))].texts[: args.timing_reviews])
    timing = worker_timing(encoders.get_encoder(space.model_name), weights, texts)
    print(
        json.dumps(
            {
                "benchmark": "sentiment",
                "machine": machine(torch_threads=True),
                "space": space.model_identity,
                "trained_on": {
                    "file": args.train_file.name,
                    "reviews": len(train.labels),
                    "cross_validated": cross_validated,
                },
                "results": results,
                "worker_ms_per_review": timing,
            }
        )
    )


def worker_timing(encoder, weights: dict, texts: list[str], repeats: int = 3) -> dict:
    """Median milliseconds per review the worker spends embedding vs labelling sentiment (same batch, same texts)."""
    from shopsearch import sentiment

    encoder.encode(texts[:32])
    sentiment.predict(weights, encoder.encode(texts[:8]), texts[:8])  # builds the classifier once, as a worker does
    embed_ms, sentiment_ms = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        vectors = encoder.encode(texts)
        embed_ms.append((time.perf_counter() - started) * 1000 / len(texts))
        started = time.perf_counter()
        sentiment.predict(weights, vectors, texts)
        sentiment_ms.append((time.perf_counter() - started) * 1000 / len(texts))
    embed, extra = statistics.median(embed_ms), statistics.median(sentiment_ms)
    return {
        "embedding": round(embed, 2),
        "sentiment": round(extra, 3),
        "overhead_percent": round(100 * extra / embed, 1),
        "reviews_timed": len(texts),
        "repeats": repeats,
    }


if __name__ == "__main__":
    main()
