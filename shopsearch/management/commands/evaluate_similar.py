"""Measure similar-products quality: co-relevance precision@10 on a relevance folder, or same_class@10 on a review
file with item classes, each without and with the review blend.

The products (and reviews) go into an evaluation collection of their own, never the shop's catalogue, and are
reused while the data and model are unchanged, so a rerun takes seconds.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from shopsearch import evaluation
from shopsearch.exceptions import ShopsearchError


class Command(BaseCommand):
    help = (
        "Evaluate similar products: co-relevance precision@10 on a relevance folder, "
        "or same_class@10 with --reviews FILE."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "dataset_dir",
            nargs="?",
            help="relevance folder (products.jsonl, queries.tsv, qrels.txt; optional reviews.jsonl)",
        )
        parser.add_argument(
            "--reviews",
            default=None,
            help="a review file whose reviews carry product_id and class (e.g. the clothing reviews)",
        )
        parser.add_argument("--json", action="store_true", help="print the report as one JSON object on the last line")
        parser.add_argument("--model", default=None, help="local model folder (default: the configured model)")

    def handle(self, *args, **options) -> None:
        if bool(options["dataset_dir"]) == bool(options["reviews"]):
            raise CommandError("Give either a relevance folder (DATASET_DIR) or --reviews FILE, not both or neither.")
        with tqdm(unit=" products", file=self.stderr._out, disable=None, desc="indexing") as bar:
            try:
                if options["reviews"]:
                    report = evaluation.same_class(options["reviews"], options["model"], on_batch=bar.update)
                else:
                    relevance = evaluation.load_relevance_set(options["dataset_dir"])
                    report = evaluation.corelevance(relevance, options["model"], on_batch=bar.update)
            except (ShopsearchError, OSError) as exc:
                raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(report))
            return
        for name, value in report.items():
            self.stdout.write(f"{name:40} {value}")
