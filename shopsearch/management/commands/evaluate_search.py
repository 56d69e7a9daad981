"""Measure search quality (nDCG@10, Recall@100, MRR@10) and latency on a relevance folder, per search mode.

The folder's products are indexed into their own collection (never the shop's catalogue) and reused while the
folder and model are unchanged, so a rerun takes seconds. See docs/relevance.md for the folder format.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from shopsearch import evaluation, search
from shopsearch.exceptions import ShopsearchError


class Command(BaseCommand):
    help = (
        "Evaluate keyword, semantic and hybrid search on a relevance folder (products.jsonl, queries.tsv, qrels.txt)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("dataset_dir", help="folder with products.jsonl, queries.tsv and qrels.txt")
        parser.add_argument(
            "--mode", choices=[*search.MODES, "all"], default="all", help="which search mode to measure (default all)"
        )
        parser.add_argument("--max-queries", type=int, default=None, help="only the first N queries (quick checks)")
        parser.add_argument("--json", action="store_true", help="print the report as one JSON object on the last line")
        parser.add_argument(
            "--titles-only",
            action="store_true",
            help="index the products with their titles only (no descriptions): a check where the model knows little",
        )
        parser.add_argument("--model", default=None, help="local model folder (default: the configured model)")

    def handle(self, *args, **options) -> None:
        if options["max_queries"] is not None and options["max_queries"] < 1:
            raise CommandError("--max-queries must be at least 1")
        try:
            relevance = evaluation.load_relevance_set(options["dataset_dir"], titles_only=options["titles_only"])
        except ShopsearchError as exc:
            raise CommandError(str(exc)) from exc
        modes = search.MODES if options["mode"] == "all" else (options["mode"],)
        self.stderr.write(f"Indexing {len(relevance.products)} products into collection {relevance.collection} …")
        with tqdm(total=len(relevance.products), unit=" products", file=self.stderr._out, disable=None) as bar:
            space, embedded, skipped = evaluation.prepare(relevance, options["model"], on_batch=bar.update)
        self.stderr.write(f"{embedded} embedded, {skipped} reused, space #{space.pk} ({space.model_identity})")
        report = evaluation.evaluate(relevance, space, modes, options["max_queries"])
        if options["json"]:
            self.stdout.write(json.dumps(report))
            return
        self.stdout.write(f"{report['queries']} queries, {report['products']} products")
        for mode in modes:
            figures = "  ".join(f"{name} {value}" for name, value in report[mode].items())
            self.stdout.write(f"{mode:9} {figures}")
