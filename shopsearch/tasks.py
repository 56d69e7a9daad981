"""Celery tasks: thin, idempotent wrappers around indexing.py, plus `enqueue`, which sends a task with a bounded wait
and falls back to running it in-process (and says so once) when no broker answers, so a save never hangs on Redis.

Nothing is lost when a message is: every save also leaves a PendingChange row (signals.py) that the periodic
`reconcile` task applies if no task did.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as WaitedTooLong

from celery import Task, current_app, shared_task
from celery.signals import task_failure, worker_init, worker_process_init
from django.db import DatabaseError, InterfaceError
from django.db.models import F
from kombu.exceptions import OperationalError as BrokerError

from . import encoders, indexing, recommend, review_insights, spaces, vocabulary
from .conf import setting
from .exceptions import NotReady
from .models import SHOP_COLLECTION, Embedding, EmbeddingSpace
from .registry import Kind

logger = logging.getLogger(__name__)


class IndexTask(Task):
    """Retried with backoff on database and connection errors; acknowledged late, so a worker killed mid-task leaves
    the message for another one. The retry count is read when a task retries, not when this module is imported."""

    acks_late = True
    autoretry_for = (DatabaseError, InterfaceError, ConnectionError, TimeoutError)
    retry_backoff = True
    retry_jitter = True

    @property
    def max_retries(self) -> int:  # type: ignore[override]
        return int(setting("TASK_MAX_RETRIES"))


@shared_task(name="shopsearch.index_objects", bind=True, base=IndexTask)
def index_objects(self, kind: str, object_ids: list, space_id: int | None = None) -> dict:
    """Apply saves and deletes of these objects (into `space_id`, or every space that must stay current); changed
    reviews then refresh their sentences, on the queue this task came from, behind other work."""
    space = indexing.EmbeddingSpace.objects.filter(pk=space_id).first() if space_id else None
    if space_id and space is None:
        return {"embedded": 0, "skipped": 0, "space_gone": space_id}
    embedded, skipped = indexing.index_objects(kind, object_ids, space)
    if kind == "review" and (space is None or space.is_active):
        queue = (self.request.delivery_info or {}).get("routing_key")
        enqueue(refresh_review_sentences, object_ids, priority=SENTENCE_PRIORITY, queue=queue)
    return {"embedded": embedded, "skipped": skipped}


SENTENCE_PRIORITY = 9  # Redis: 0 is served first, 9 last; sentence caches wait behind indexing


@shared_task(name="shopsearch.refresh_review_sentences", base=IndexTask)
def refresh_review_sentences(object_ids: list) -> dict:
    """Split, embed, label and score against the aspects the sentences of these changed reviews."""
    return {"sentences": review_insights.refresh_sentences(object_ids)}


@shared_task(name="shopsearch.reconcile", base=IndexTask)
def reconcile() -> dict:
    """Repair what the queue lost (indexing.reconcile), then bring review sentences up to date
    (review_insights.refresh_all).
    Scheduled every RECONCILE_EVERY_SECONDS by celery beat."""
    repaired = indexing.reconcile()
    space = spaces.active_space()
    return {**repaired, "sentences": review_insights.refresh_all(space) if space is not None else 0}


@shared_task(name="shopsearch.delete_old_events")
def delete_old_events() -> dict:
    """Delete shopper events older than EVENT_RETENTION_DAYS (on beat's schedule, daily)."""
    return {"deleted": recommend.delete_old_events()}


@shared_task(name="shopsearch.discover_aspects", base=IndexTask)
def discover_aspects() -> dict:
    """Refresh the discovered review aspects of the active space (schedule it with celery beat, e.g. nightly)."""
    space = spaces.active_space()
    return {"aspects": [aspect.name for aspect in review_insights.discover_aspects(space)] if space is not None else []}


@shared_task(name="shopsearch.finetune_embeddings")
def finetune_embeddings(
    source: str,
    folder: str | None = None,
    since: str | None = None,
    output: str | None = None,
    epochs: int = 1,
    batch_size: int = 32,
    seed: int = 42,
    min_grade: int | None = None,
    evaluate_folder: str | None = None,
    activate_margin: float | None = None,
) -> dict:
    """Fine-tune the embedding model in a worker (finetune.finetune; `since` as ISO text). Never retried: minutes of
    training are not repeated on their own; a refusal or failure is in the worker's log with its reason."""
    from django.utils.dateparse import parse_datetime

    from . import finetune

    report = finetune.finetune(
        source,
        folder=folder,
        since=parse_datetime(since) if since else None,
        output=output,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        min_grade=min_grade,
        evaluate_folder=evaluate_folder,
        activate_margin=activate_margin,
    )
    logger.info(
        "shopsearch: fine-tuned %s (activated: %s) %s", report["model"], report["activated"], report.get("reason", "")
    )
    return {key: report[key] for key in ("model", "activated", "reason", "evaluation", "pruned") if key in report}


@worker_init.connect
def give_children_time_to_load_the_model(sender, **_kwargs) -> None:
    """Celery kills a new pool process that is not up within worker_proc_alive_timeout (4 s by default), but loading
    the model in it takes longer (7.7 s measured on 2 busy cores): a replaced child was killed again and again.
    Raise the timeout to WORKER_PROCESS_START_SECONDS unless the project set a longer one."""
    conf = sender.app.conf
    conf.worker_proc_alive_timeout = max(
        float(conf.worker_proc_alive_timeout or 0), float(setting("WORKER_PROCESS_START_SECONDS"))
    )


@worker_process_init.connect
def load_model_in_worker(**_kwargs) -> None:
    """Load the active space's model once per worker process, after the fork (never before: torch and fork clash)."""
    from django.db import connection

    try:
        space = spaces.active_space()
        encoders.preload(space.model_name if space else encoders.configured_model())
    except Exception:  # a worker still starts without a database; the first task will say what is wrong
        logger.exception("shopsearch: could not preload the embedding model")
    finally:
        connection.close()  # the forked child must not share the parent's connection


FAILURES_KEPT_DAYS = 30  # TaskFailure rows older than this are deleted when a new failure is recorded


def record_failure(task: str, task_id: str, exc: BaseException) -> None:
    """Keep a failure for the console's pipeline health; never raises (the failure itself is already logged)."""
    from datetime import timedelta

    from django.utils import timezone

    from .models import TaskFailure

    try:
        TaskFailure.objects.create(task=task[:200], task_id=task_id[:100], error=f"{type(exc).__name__}: {exc}"[:4000])
        TaskFailure.objects.filter(failed_at__lt=timezone.now() - timedelta(days=FAILURES_KEPT_DAYS)).delete()
    except Exception:  # e.g. the database is what failed
        logger.exception("shopsearch: could not record the failure of %s", task)


@task_failure.connect
def record_task_failure(sender=None, task_id=None, exception=None, **_kwargs) -> None:
    """A shopsearch task failed for good (Celery sends task_failure once its retries are spent)."""
    if sender is not None and str(getattr(sender, "name", "")).startswith("shopsearch."):
        record_failure(sender.name, str(task_id or ""), exception)


def schedule_periodic_tasks(app) -> None:
    """Put the plugin's periodic tasks on the Celery app's beat schedule (run one beat: `celery worker -B` on a
    single worker, or a `celery beat` process): reconcile, the search log's flush, and the daily retentions."""
    from . import analytics

    app.add_periodic_task(float(setting("RECONCILE_EVERY_SECONDS")), reconcile.s(), name="shopsearch.reconcile")
    app.add_periodic_task(24 * 3600.0, delete_old_events.s(), name="shopsearch.delete_old_events")
    app.add_periodic_task(
        60.0, analytics.flush_search_log_task.s(), name="shopsearch.flush_search_log"
    )  # a quiet shop's last searches
    app.add_periodic_task(24 * 3600.0, analytics.delete_old_searches_task.s(), name="shopsearch.delete_old_searches")


_publisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shopsearch-publish")
_broker_down_since: float | None = None


def enqueue(task, *args, priority: int | None = None, queue: str | None = None) -> None:
    """Send `task` to the workers, waiting at most BROKER_TIMEOUT seconds; with no broker answering, run it here.

    The broker client retries a refused connection for ~6 s, which every save waited through. Publishing from a
    thread bounds the wait; after a failure the broker is not tried again for BROKER_RETRY_SECONDS, so during an
    outage saves index inline at once. A publish that still goes through late only repeats idempotent work.
    """
    global _broker_down_since
    options = {key: value for key, value in (("priority", priority), ("queue", queue)) if value is not None}
    if task.app.conf.task_always_eager:  # runs in this thread, on this thread's database connection
        task.apply_async(args, **options)
        return
    retry_after = float(setting("BROKER_RETRY_SECONDS"))
    if _broker_down_since is None or time.monotonic() - _broker_down_since >= retry_after:
        try:
            _publisher.submit(task.apply_async, args, retry=False, **options).result(
                timeout=float(setting("BROKER_TIMEOUT"))
            )
        except (BrokerError, ConnectionError, OSError, WaitedTooLong) as exc:
            if _broker_down_since is None:
                logger.warning(
                    "shopsearch: no Celery broker answers (%s); indexing runs inline in this process until one does. "
                    "Start Redis or set REDIS_URL.",
                    exc or "no answer within BROKER_TIMEOUT",
                )
            _broker_down_since = time.monotonic()
        else:
            if _broker_down_since is not None:
                logger.warning("shopsearch: the Celery broker answers again; indexing goes back to the workers")
                _broker_down_since = None
            return
    task.apply(args, throw=True)


# --- a reindex fanned out over the workers ---------------------------------------------------------------------

STALL_SECONDS = 300  # reindex_on_workers gives up waiting when no progress is seen for this long
WORKER_WAIT_SECONDS = 120  # it waits this long for a worker to answer (one that is still loading its model)


def _up_to_date_vectors(space: EmbeddingSpace, kinds: Sequence[Kind]) -> int:
    """How many of the shop's documents of `kinds` have a vector of their current text in `space`: one count in the
    database, for following progress (spaces.missing_count also compares every object with its document)."""
    return Embedding.objects.filter(
        space=space,
        kind__in=list(kinds),
        document__collection=SHOP_COLLECTION,
        content_hash=F("document__content_hash"),
    ).count()


def reindex_on_workers(
    space: EmbeddingSpace, kinds: Sequence[Kind], batch_size: int, on_progress: Callable[[int], None] = lambda n: None
) -> indexing.ReindexSummary:
    """`reindex --async`: write the documents here (no model needed), send one index_objects task per batch, and
    follow the missing count until it reaches zero or stops moving for STALL_SECONDS (what is left counts as failed,
    and the periodic reconcile or a re-run finishes it). `on_progress` gets the number of objects done since its
    last call. NotReady when no worker answers within WORKER_WAIT_SECONDS."""
    deadline = time.monotonic() + WORKER_WAIT_SECONDS
    while not current_app.control.ping(timeout=2.0):
        if time.monotonic() > deadline:
            raise NotReady(
                f"--async needs a running Celery worker (`celery -A <project> worker`); none answered within "
                f"{WORKER_WAIT_SECONDS} s. Start one, or run without --async to index in this process."
            )
    summary = indexing.ReindexSummary()
    batches = []
    for kind in kinds:  # documents first, so what is missing can be counted and watched
        summary.removed += indexing.remove_orphans(kind)
        for ids in indexing.object_id_batches(kind, batch_size):
            indexing.sync_documents(kind, ids)
            batches.append((kind, [str(pk) for pk in ids]))
    if "product" in kinds:  # recounted: these syncs and removals bypassed the batches' running counts
        vocabulary.rebuild(SHOP_COLLECTION)
    pending = spaces.missing_count(space, kinds)
    summary.skipped = sum(indexing.object_count(kind) for kind in kinds) - pending
    done_before = _up_to_date_vectors(space, kinds)
    for kind, ids in batches:
        index_objects.apply_async((kind, ids, space.pk))
    on_progress(summary.skipped)
    last_change, remaining = time.monotonic(), pending
    while remaining:
        time.sleep(1.0)
        # The cheap count while it moves; the exact one (seconds of CPU beside the workers on a large catalogue,
        # measured 0.5-0.7 s at 10k products) only once the cheap one says the work is done.
        now_missing = max(0, pending - (_up_to_date_vectors(space, kinds) - done_before))
        now_missing = now_missing or spaces.missing_count(space, kinds)
        if now_missing != remaining:
            on_progress(remaining - now_missing)
            remaining, last_change = now_missing, time.monotonic()
        elif time.monotonic() - last_change > STALL_SECONDS:
            break
    summary.embedded = pending - remaining
    summary.failed = remaining
    return summary
