"""Train the review sentiment classifier of the active embedding space from star ratings, and apply it."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from shopsearch import review_insights, sentiment
from shopsearch.exceptions import ShopsearchError
from shopsearch.spaces import require_active_space


class Command(BaseCommand):
    help = "Train review sentiment from star ratings (1-2 negative, 3 neutral, 4-5 positive) in the active space."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--file", type=Path, help="train on this reviews.jsonl instead of the shop's own rated reviews"
        )
        parser.add_argument(
            "--holdout",
            type=float,
            default=0.0,
            help="fraction of reviews (fixed by id) kept out and scored after training",
        )
        parser.add_argument(
            "--save-default",
            type=Path,
            help="also write the classifier to this gzipped JSON file (how the shipped default is made)",
        )
        parser.add_argument("--json", action="store_true", help="last line: the metrics as JSON")

    def handle(self, *args, **options) -> None:
        if not 0 <= options["holdout"] < 1:
            raise CommandError("--holdout must be at least 0 and below 1, e.g. 0.2")
        if options["file"] and not options["file"].is_file():
            raise CommandError(f"--file: no such file: {options['file']}")
        try:
            space = require_active_space()
            classifier, result = review_insights.train_sentiment(space, options["file"], options["holdout"])
        except ShopsearchError as exc:
            raise CommandError(str(exc)) from exc
        metrics = result["cross_validated"]
        self.stdout.write(
            f"Trained on {result['reviews']} reviews and their titles (space #{space.pk}, {space.model_identity})"
        )
        if options["save_default"]:
            sentiment.write_default(classifier, options["save_default"])
        self.stdout.write(
            self.style.SUCCESS(
                f"Classifier #{classifier.pk} active for space #{space.pk}: cross-validated balanced accuracy "
                f"{metrics['balanced_accuracy']:.3f}, macro-F1 {metrics.get('macro_f1_3class', float('nan')):.3f}"
            )
        )
        if options["json"]:
            self.stdout.write(json.dumps({key: value for key, value in result.items() if key != "reviews"}))
