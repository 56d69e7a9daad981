"""Score the active space's sentiment classifier on a labelled review file."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from shopsearch import sentiment
from shopsearch.exceptions import ShopsearchError
from shopsearch.spaces import require_active_space


class Command(BaseCommand):
    help = "Balanced accuracy / accuracy (positive vs negative) and 3-class macro-F1 of review sentiment on FILE."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="reviews.jsonl with text and rating (1-5) or label (pos/neg)")
        parser.add_argument(
            "--holdout",
            type=float,
            default=0.0,
            help="score only the fixed held-out fraction used by train_sentiment --holdout",
        )
        parser.add_argument("--json", action="store_true", help="last line: the figures as JSON")

    def handle(self, *args, **options) -> None:
        if not options["file"].is_file():
            raise CommandError(f"No such file: {options['file']}")
        try:
            space = require_active_space()
            classifier = sentiment.active_classifier(space)
            if classifier is None:
                raise CommandError(
                    f"Space #{space.pk} has no sentiment classifier yet: run `manage.py train_sentiment`."
                )
            holdout = options["holdout"]
            reviews = sentiment.file_reviews(
                space, options["file"], (lambda i: sentiment.in_holdout(i, holdout)) if holdout else (lambda i: True)
            )
        except ShopsearchError as exc:
            raise CommandError(str(exc)) from exc
        predictions = sentiment.predict(classifier.weights, reviews.vectors, reviews.texts)
        result = sentiment.metrics(reviews.labels, [p.label for p in predictions], [p.score for p in predictions])
        result.setdefault("macro_f1_3class", None)
        self.stdout.write(
            f"{options['file'].name}: {len(reviews.labels)} reviews, "
            f"classifier #{classifier.pk} ({classifier.trained_on})"
        )
        self.stdout.write(
            json.dumps(result) if options["json"] else "\n".join(f"{key}: {value}" for key, value in result.items())
        )
