"""Fine-tune the embedding model on the shop's own data into a new, versioned model folder (and space), judge it on
queries it never saw before it serves, and roll back to the previous space in one step. See docs/finetuning.md.
"""

from __future__ import annotations

import json
from datetime import datetime
from datetime import time as day_start

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm

from shopsearch import finetune, indexing, tasks
from shopsearch.conf import setting
from shopsearch.exceptions import ShopsearchError


def parse_since(value: str) -> datetime:
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(
                f"--since {value!r} is not a date: use YYYY-MM-DD or an ISO date-time (2026-11-01T00:00)"
            )
        moment = datetime.combine(day, day_start())
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


class Command(BaseCommand):
    help = (
        "Fine-tune the embedding model from judged queries, search clicks or the catalogue; "
        "optionally evaluate and switch over."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("dataset_dir", nargs="?", help="--from qrels: the relevance folder to train on")
        parser.add_argument(
            "--from", dest="source", choices=finetune.SOURCES, help="where the training pairs come from"
        )
        parser.add_argument("--since", help="--from clicks: only events from this date (YYYY-MM-DD or ISO date-time)")
        parser.add_argument(
            "--min-grade",
            type=int,
            default=None,
            help=f"--from qrels: lowest grade that counts as relevant (default {setting('FINETUNE_MIN_GRADE')})",
        )
        parser.add_argument("--output", help="model folder to write (default: a new versioned folder under MODELS_DIR)")
        parser.add_argument("--epochs", type=int, default=1)
        parser.add_argument(
            "--batch-size",
            type=int,
            default=32,
            help="pairs per batch; each anchor's in-batch negatives are the others",
        )
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument(
            "--evaluate",
            metavar="DIR",
            help="relevance folder (no query shared with the training data) to compare both spaces on",
        )
        parser.add_argument(
            "--activate-if-better",
            metavar="MARGIN",
            type=float,
            default=None,
            help="with --evaluate: switch the shop to the new space when hybrid nDCG@10 gains at least MARGIN",
        )
        parser.add_argument(
            "--async",
            dest="use_workers",
            action="store_true",
            help="run in a Celery worker (see its log for the result)",
        )
        parser.add_argument(
            "--rollback",
            action="store_true",
            help="serve the previous space again (catching up on catalogue edits first)",
        )
        parser.add_argument("--json", action="store_true", help="print the report as one JSON object on the last line")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options) -> None:
        try:
            if options["rollback"]:
                report = self._rollback(options)
            elif not options["source"]:
                raise CommandError(
                    "Say where the training pairs come from: --from qrels DIR | --from clicks [--since DATE] | "
                    "--from catalogue; or --rollback"
                )
            elif options["use_workers"]:
                report = self._enqueue(options)
            else:
                report = self._finetune(options)
        except (ShopsearchError, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(report, default=str))

    def _arguments(self, options) -> dict:
        if options["dataset_dir"] and options["source"] != "qrels":
            raise CommandError(
                f"A folder ({options['dataset_dir']}) is only read with --from qrels; "
                "use --evaluate DIR to evaluate on it"
            )
        if options["since"] and options["source"] != "clicks":
            raise CommandError("--since only applies to --from clicks")
        return {
            "folder": options["dataset_dir"],
            "since": parse_since(options["since"]) if options["since"] else None,
            "output": options["output"],
            "epochs": options["epochs"],
            "batch_size": options["batch_size"],
            "seed": options["seed"],
            "min_grade": options["min_grade"],
            "evaluate_folder": options["evaluate"],
            "activate_margin": options["activate_if_better"],
        }

    def _finetune(self, options) -> dict:
        bar = tqdm(unit=" steps", disable=options["no_progress"] or None, file=self.stderr._out, desc="training")

        def on_step(step: int, total: int) -> None:
            bar.total = total
            bar.update(step - bar.n)

        try:
            report = finetune.finetune(
                options["source"], **self._arguments(options), on_step=on_step, log=self.stderr.write
            )
        finally:
            bar.close()
        manifest = report["manifest"]
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {report['model']}: {manifest['pairs_used']} pairs "
                f"({manifest['hard_negatives_used']} with a hard negative), "
                f"{manifest['hyperparameters']['steps']} steps in {manifest['duration_seconds']} s."
            )
        )
        if "evaluation" in report:
            for name in ("base", "finetuned"):
                figures = report["evaluation"][name]
                self.stdout.write(
                    f"{name:9} space #{figures['space']}: semantic nDCG@10 {figures['semantic']['ndcg@10']}, "
                    f"hybrid nDCG@10 {figures['hybrid']['ndcg@10']}"
                )
        if "reason" in report:
            self.stdout.write(self.style.SUCCESS(report["reason"]) if report["activated"] else report["reason"])
        else:
            self.stdout.write(f"Not evaluated; to serve it: manage.py reindex --model {report['model']}")
        for folder in report["pruned"]:
            self.stdout.write(f"Removed old model folder {folder} (FINETUNE_KEEP {setting('FINETUNE_KEEP')})")
        return report

    def _enqueue(self, options) -> dict:
        arguments = self._arguments(options)
        arguments["since"] = arguments["since"].isoformat() if arguments["since"] else None
        tasks.enqueue(tasks.finetune_embeddings, options["source"], *arguments.values())
        self.stdout.write(
            f"Fine-tuning from {options['source']} was sent to the Celery workers; the worker's log has the result."
        )
        return {"enqueued": True, "source": options["source"], **arguments}

    def _rollback(self, options) -> dict:
        bar = tqdm(unit=" objects", disable=options["no_progress"] or None, file=self.stderr._out, desc="catching up")
        try:
            report = indexing.rollback(on_batch=lambda kind, n: bar.update(n))
        finally:
            bar.close()
        kept = f"; space #{report['previous']} is kept: --rollback again returns to it" if report["previous"] else ""
        self.stdout.write(
            self.style.SUCCESS(f"Search now uses space #{report['active']} ({report['model']}) again{kept}.")
        )
        return report
