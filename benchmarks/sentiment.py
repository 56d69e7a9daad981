"""Review sentiment quality and cost; prints JSON.

Trains the classifier in memory (nothing is saved) on a review file minus its fixed held-out share, then reports
balanced accuracy (positive vs negative) on the held-out share and on other review files, beside the embedding-only
classifier and the VADER lexicon alone; and the worker's time per review for embedding vs for sentiment. Reviews
already embedded in the active space are reused by content hash. Usage:

    .venv/bin/python benchmarks/sentiment.py ../shared/data/womens_clothing_reviews/reviews.jsonl \
        --other ../shared/data/uci_sentences/yelp.jsonl
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train_file", type=Path)
    parser.add_argument("--other", type=Path, action="append", default=[], help="more labelled review files to score (other domains)")
    parser.add_argument("--holdout", type=float, default=0.2)
    parser.add_argument("--timing-reviews", type=int, default=256)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopsite.settings")
    import django

    django.setup()
    from django.test import override_settings
    from sklearn.metrics import balanced_accuracy_score

    from shopsearch import encoders, sentiment
    from shopsearch.search import require_active_space

    space = require_active_space()
    train = sentiment.file_reviews(space, args.train_file, lambda i: not sentiment.in_holdout(i, args.holdout))
    evaluations = {f"{args.train_file.stem} held-out {args.holdout:.0%}": sentiment.file_reviews(space, args.train_file, lambda i: sentiment.in_holdout(i, args.holdout))}
    for path in args.other:
        evaluations[path.stem] = sentiment.file_reviews(space, path)

    def scores(weights: dict, data) -> dict:
        predictions = sentiment.predict(weights, data.vectors, data.texts)
        return sentiment.metrics(data.labels, [p.label for p in predictions], [p.score for p in predictions])

    results: dict = {}
    weights, cross_validated = sentiment.train(train.vectors, train.texts, train.labels)
    with override_settings(SHOPSEARCH={**django.conf.settings.SHOPSEARCH, "SENTIMENT_LEXICON_WEIGHT": 0.0}):
        embedding_only, _ = sentiment.train(train.vectors, train.texts, train.labels)
        embedding_only_scores = {name: scores(embedding_only, data) for name, data in evaluations.items()}
    analyzer = sentiment._vader()
    for name, data in evaluations.items():
        truth = np.asarray(data.labels)
        polar = truth != "neutral"
        compound = np.asarray([analyzer.polarity_scores(t)["compound"] for t in np.asarray(data.texts)[polar]])
        results[name] = {
            "classifier": scores(weights, data),
            "embedding_only": embedding_only_scores[name],
            "vader": {"balanced_accuracy": round(float(balanced_accuracy_score(truth[polar] == "positive", compound > 0)), 4), "n": int(polar.sum())},
        }

    texts = list(evaluations[next(iter(evaluations))].texts[: args.timing_reviews])
    encoder = encoders.get_encoder(space.model_name)
    encoder.encode(texts[:32])
    embed_ms, sentiment_ms = [], []
    for _ in range(3):
        started = time.perf_counter()
        vectors = encoder.encode(texts)
        embed_ms.append((time.perf_counter() - started) * 1000 / len(texts))
        started = time.perf_counter()
        sentiment.predict(weights, vectors, texts)
        sentiment_ms.append((time.perf_counter() - started) * 1000 / len(texts))
    embed, extra = statistics.median(embed_ms), statistics.median(sentiment_ms)
    print(json.dumps({
        "benchmark": "sentiment",
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "space": space.model_identity,
        "trained_on": {"file": args.train_file.name, "reviews": len(train.labels), "cross_validated": cross_validated},
        "results": results,
        "worker_ms_per_review": {"embedding": round(embed, 2), "sentiment": round(extra, 3), "overhead_percent": round(100 * extra / embed, 1),
                                 "reviews_timed": len(texts), "repeats": 3},
    }))


if __name__ == "__main__":
    main()
