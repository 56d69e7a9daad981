"""Celery tasks: thin, idempotent wrappers around indexing.py, plus `enqueue`, which sends a task with a bounded wait
and falls back to running it in-process (and says so once) when no broker answers, so a save never hangs on Redis.

Nothing is lost when a message is: every save also leaves a PendingChange row (signals.py) that the periodic
`reconcile` task applies if no task did.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as WaitedTooLong

from celery import Task, shared_task
from celery.signals import worker_init, worker_process_init
from django.db import DatabaseError, InterfaceError
from kombu.exceptions import OperationalError as BrokerError

from . import encoders, indexing, recommend, review_insights
from .conf import setting

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
    """Repair what the queue lost (indexing.reconcile), then bring review sentences up to date (review_insights.refresh_all).
    Scheduled every RECONCILE_EVERY_SECONDS by celery beat."""
    repaired = indexing.reconcile()
    space = indexing.active_space()
    return {**repaired, "sentences": review_insights.refresh_all(space) if space is not None else 0}


@shared_task(name="shopsearch.delete_old_events")
def delete_old_events() -> dict:
    """Delete shopper events older than EVENT_RETENTION_DAYS (on beat's schedule, daily)."""
    return {"deleted": recommend.delete_old_events()}


@shared_task(name="shopsearch.discover_aspects", base=IndexTask)
def discover_aspects() -> dict:
    """Refresh the discovered review aspects of the active space (schedule it with celery beat, e.g. nightly)."""
    space = indexing.active_space()
    return {"aspects": [aspect.name for aspect in review_insights.discover_aspects(space)] if space is not None else []}


@shared_task(name="shopsearch.finetune_embeddings")
def finetune_embeddings(source: str, folder: str | None = None, since: str | None = None, output: str | None = None,
                        epochs: int = 1, batch_size: int = 32, seed: int = 42, min_grade: int | None = None,
                        evaluate_folder: str | None = None, activate_margin: float | None = None) -> dict:
    """Fine-tune the embedding model in a worker (finetune.finetune; `since` as ISO text). Never retried: minutes of
    training are not repeated on their own; a refusal or failure is in the worker's log with its reason."""
    from django.utils.dateparse import parse_datetime

    from . import finetune

    report = finetune.finetune(source, folder=folder, since=parse_datetime(since) if since else None, output=output, epochs=epochs,
                               batch_size=batch_size, seed=seed, min_grade=min_grade, evaluate_folder=evaluate_folder,
                               activate_margin=activate_margin)
    logger.info("shopsearch: fine-tuned %s (activated: %s) %s", report["model"], report["activated"], report.get("reason", ""))
    return {key: report[key] for key in ("model", "activated", "reason", "evaluation", "pruned") if key in report}


@worker_init.connect
def give_children_time_to_load_the_model(sender, **_kwargs) -> None:
    """Celery kills a new pool process that is not up within worker_proc_alive_timeout (4 s by default), but loading
    the model in it takes longer (7.7 s measured on 2 busy cores): a replaced child was killed again and again.
    Raise the timeout to WORKER_PROCESS_START_SECONDS unless the project set a longer one."""
    conf = sender.app.conf
    conf.worker_proc_alive_timeout = max(float(conf.worker_proc_alive_timeout or 0), float(setting("WORKER_PROCESS_START_SECONDS")))


@worker_process_init.connect
def load_model_in_worker(**_kwargs) -> None:
    """Load the active space's model once per worker process, after the fork (never before: torch and fork clash)."""
    from django.db import connection

    try:
        space = indexing.active_space()
        encoders.preload(space.model_name if space else encoders.configured_model())
    except Exception:  # a worker still starts without a database; the first task will say what is wrong
        logger.exception("shopsearch: could not preload the embedding model")
    finally:
        connection.close()  # the forked child must not share the parent's connection


def schedule_periodic_tasks(app) -> None:
    """Put the plugin's periodic tasks on the Celery app's beat schedule (run one beat: `celery worker -B` on a
    single worker, or a `celery beat` process): reconcile, the search log's flush, and the daily retentions."""
    from . import analytics

    app.add_periodic_task(float(setting("RECONCILE_EVERY_SECONDS")), reconcile.s(), name="shopsearch.reconcile")
    app.add_periodic_task(24 * 3600.0, delete_old_events.s(), name="shopsearch.delete_old_events")
    app.add_periodic_task(60.0, analytics.flush_search_log_task.s(), name="shopsearch.flush_search_log")  # a quiet shop's last searches
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
            _publisher.submit(task.apply_async, args, retry=False, **options).result(timeout=float(setting("BROKER_TIMEOUT")))
        except (BrokerError, ConnectionError, OSError, WaitedTooLong) as exc:
            if _broker_down_since is None:
                logger.warning(
                    "shopsearch: no Celery broker answers (%s); indexing runs inline in this process until one does. "
                    "Start Redis or set REDIS_URL.", exc or "no answer within BROKER_TIMEOUT"
                )
            _broker_down_since = time.monotonic()
        else:
            if _broker_down_since is not None:
                logger.warning("shopsearch: the Celery broker answers again; indexing goes back to the workers")
                _broker_down_since = None
            return
    task.apply(args, throw=True)
