"""Celery tasks: thin, idempotent wrappers around indexing.py, plus `enqueue`, which falls back to running a task
in-process (and says so once) when no broker answers, so the shop keeps working without Redis."""
from __future__ import annotations

import logging
import time

from celery import shared_task
from celery.signals import worker_process_init
from django.db import DatabaseError, InterfaceError
from kombu.exceptions import OperationalError as BrokerError

from . import encoders, indexing, reviews
from .conf import setting

logger = logging.getLogger(__name__)

RETRY = dict(
    acks_late=True,  # a worker killed mid-task leaves the message in the queue for another one
    autoretry_for=(DatabaseError, InterfaceError, ConnectionError, TimeoutError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=setting("TASK_MAX_RETRIES"),
)


@shared_task(name="shopsearch.index_objects", bind=True, **RETRY)
def index_objects(self, kind: str, object_ids: list, space_id: int | None = None) -> dict:
    """Sync and embed these objects (into `space_id`, or every space that must stay current); changed reviews then
    refresh their cached sentences, on the queue this task came from, behind other work."""
    space = indexing.EmbeddingSpace.objects.filter(pk=space_id).first() if space_id else None
    if space_id and space is None:
        return {"embedded": 0, "skipped": 0, "space_gone": space_id}
    embedded, skipped = indexing.index_objects(kind, object_ids, space)
    if kind == "review" and space is None:
        queue = (self.request.delivery_info or {}).get("routing_key")
        enqueue(refresh_review_sentences, object_ids, priority=SENTENCE_PRIORITY, queue=queue)
    return {"embedded": embedded, "skipped": skipped}


SENTENCE_PRIORITY = 9  # Redis: 0 is served first, 9 last; sentence caches wait behind indexing


@shared_task(name="shopsearch.refresh_review_sentences", **RETRY)
def refresh_review_sentences(object_ids: list) -> dict:
    """Re-split and re-embed the sentences of changed reviews of products whose sentences are cached."""
    return {"sentences": reviews.refresh_sentences(object_ids)}


@shared_task(name="shopsearch.remove_objects", **RETRY)
def remove_objects(kind: str, object_ids: list) -> dict:
    """Forget deleted objects in every space."""
    return {"removed": indexing.remove_documents(kind, object_ids)}


@shared_task(name="shopsearch.discover_aspects", **RETRY)
def discover_aspects() -> dict:
    """Refresh the discovered review aspects of the active space (schedule it with celery beat, e.g. nightly)."""
    space = indexing.active_space()
    return {"aspects": [aspect.name for aspect in reviews.discover_aspects(space)] if space is not None else []}


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


@worker_process_init.connect
def load_model_in_worker(**_kwargs) -> None:
    """Load the active space's model once per worker process, after the fork (never before: torch and fork clash)."""
    from django.db import connection

    try:
        space = indexing.active_space()
        encoders.get_encoder(space.model_name if space else encoders.configured_model())
    except Exception:  # a worker still starts without a database; the first task will say what is wrong
        logger.exception("shopsearch: could not preload the embedding model")
    finally:
        connection.close()  # the forked child must not share the parent's connection


_broker_down_since: float | None = None


def enqueue(task, *args, priority: int | None = None, queue: str | None = None) -> None:
    """Send `task` to the workers; with no broker answering, run it here and say so once (until it is back)."""
    global _broker_down_since
    options = {key: value for key, value in (("priority", priority), ("queue", queue)) if value is not None}
    try:
        task.apply_async(args, retry=False, **options)
    except (BrokerError, ConnectionError, OSError) as exc:
        if _broker_down_since is None:
            logger.warning(
                "shopsearch: no Celery broker answers (%s); indexing runs inline in this process until one does. "
                "Start Redis or set REDIS_URL.", exc
            )
            _broker_down_since = time.monotonic()
        task.apply(args, throw=True)
    else:
        if _broker_down_since is not None:
            logger.warning("shopsearch: the Celery broker answers again; indexing goes back to the workers")
            _broker_down_since = None
