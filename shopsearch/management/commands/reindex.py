"""Embed every product and review that is missing or stale, in the active space or in a new model's space.

Safe to interrupt and re-run: every batch commits on its own and unchanged texts are skipped by content hash, so
a re-run resumes. With --model the new space is filled while the active one keeps serving, and search switches
over in one step only when the new space is complete.
"""

from __future__ import annotations

import json
import time

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from shopsearch import indexing, registry, review_insights, sentiment, spaces, tasks
from shopsearch.conf import setting
from shopsearch.exceptions import ShopsearchError
from shopsearch.models import EmbeddingSpace


class Command(BaseCommand):
    help = "Embed everything missing or stale (optionally into a new model's space, then switch over)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--model", help="local model folder or name: build (or finish) that model's space, then switch to it"
        )
        parser.add_argument(
            "--kind", choices=registry.KINDS, action="append", help="only this kind (repeatable; default all)"
        )
        parser.add_argument(
            "--batch-size", type=int, default=None, help=f"objects per batch (default {setting('REINDEX_BATCH_SIZE')})"
        )
        parser.add_argument(
            "--async", dest="use_workers", action="store_true", help="fan the batches out over Celery workers"
        )
        parser.add_argument(
            "--no-activate", action="store_true", help="with --model: fill the space but do not switch to it"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        parser.add_argument(
            "--missing",
            action="store_true",
            help="only what is out of date (lost or stranded updates, missing or stale vectors, orphans), as the "
            "periodic reconcile task does, without waiting for its grace period",
        )

    def handle(self, *args, **options) -> None:
        batch_size = options["batch_size"] or setting("REINDEX_BATCH_SIZE")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if options["missing"]:
            if options["model"] or options["kind"] or options["use_workers"]:
                raise CommandError(
                    "--missing repairs every kind in the spaces that serve or are being built; "
                    "it takes no --model, --kind or --async"
                )
            repaired = indexing.reconcile(grace_seconds=0, batch_size=batch_size)
            self.stdout.write(
                self.style.SUCCESS(
                    f"Repaired: {', '.join(f'{n} {kind}s' for kind, n in repaired.items()) or 'nothing'}."
                )
            )
            self.stdout.write(json.dumps({"repaired": repaired}))
            return
        kinds = tuple(options["kind"] or [k for k in registry.KINDS if registry.indexed_model(k) is not None])
        try:
            space = spaces.get_or_create_space(options["model"]) if options["model"] else spaces.ensure_active_space()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        spaces.start_building(space)
        self.stdout.write(
            f"Indexing {', '.join(kinds)} into space #{space.pk} ({space.model_identity}, {space.dimensions}d)"
            f"{' — the active space' if space.is_active else '; the active space keeps serving meanwhile'}"
        )
        total = sum(indexing.object_count(kind) for kind in kinds)
        bar = tqdm(total=total, unit=" objects", disable=options["no_progress"], smoothing=0.1)
        started = time.monotonic()
        try:
            if options["use_workers"]:
                summary = tasks.reindex_on_workers(space, kinds, batch_size, on_progress=bar.update)
            else:
                summary = indexing.reindex(space, kinds, batch_size, on_batch=lambda kind, n: bar.update(n))
        except ShopsearchError as exc:
            bar.close()
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            bar.close()
            self.stderr.write(
                "Interrupted: finished batches are kept; run the same command again to resume. "
                "The active space is unchanged."
            )
            raise SystemExit(130) from None
        bar.close()
        result = {**summary.as_dict(), "space": space.pk, "seconds": round(time.monotonic() - started, 1)}
        space.refresh_from_db()
        if not space.is_active and not options["no_activate"]:
            result["activated"] = self._switch_over(space)
            space.refresh_from_db()
        if space.is_active and "review" in kinds and not options["use_workers"]:  # the workers do it after each batch
            self.stdout.write("Analysing review sentences (aspects, in-review search)...")
            result["sentences"] = review_insights.refresh_all(space, batch_size)
        self.stdout.write(
            self.style.SUCCESS(
                f"Done: {summary.embedded} embedded, {summary.skipped} skipped as unchanged, {summary.failed} failed, "
                f"{summary.removed} removed."
            )
        )
        self.stdout.write(json.dumps(result))

    def _switch_over(self, space: EmbeddingSpace) -> bool:
        try:
            spaces.activate(space)
        except ShopsearchError as exc:
            self.stderr.write(f"Not switched over: {exc}")
            return False
        self.stdout.write(self.style.SUCCESS(f"Search now uses space #{space.pk} ({space.model_identity})."))
        if sentiment.status(space) == "pending":
            self.stdout.write(
                "Review sentiment: the new space has no classifier yet; the periodic reconcile trains one from "
                "the shop's star ratings (or run `manage.py train_sentiment` now). "
                "Until then reviews show as unlabelled."
            )
        return True
