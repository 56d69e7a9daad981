"""Search analytics: every shop search is logged off the request path, and the owner's figures are read from the log.

`log_search` appends one JSON line to a Redis list (one round trip, no database write in the request); every
SEARCH_LOG_BATCH entries it asks a worker to `flush_search_log`, which moves them into `SearchLog` in one
bulk insert (the console also flushes before it shows figures). A Redis outage drops log entries, never a search.
`searches_older_than` / the `shopsearch.delete_old_searches` task enforce SEARCH_LOG_RETENTION_DAYS.
"""
from __future__ import annotations

import functools
import json
import logging
import re
import time
import unicodedata
from datetime import timedelta

from celery import current_app, shared_task
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .conf import setting
from .models import SHOP_COLLECTION, SearchLog

logger = logging.getLogger(__name__)


def normalize(query: str) -> str:
    """What analytics and rules compare: lower case, no accents, single spaces (cut to the column's 300 characters)."""
    text = "".join(char for char in unicodedata.normalize("NFKD", query) if not unicodedata.combining(char))
    return re.sub(r"\s+", " ", text).strip().lower()[:300]


def _buffer_key() -> str:
    return f"shopsearch:searchlog:{connection.settings_dict['NAME']}"  # one buffer per database, as the task queues


@functools.lru_cache(maxsize=1)
def _redis(url: str):
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=0.2, socket_timeout=0.2)


def _client():
    return _redis(str(current_app.conf.broker_url))


_warned = False


def log_search(query: str, mode: str, filters: dict, results: int, latency_ms: float, session_id: str = "") -> None:
    """Buffer one search for the log; never raises (a search must not fail because its log entry could not be kept)."""
    global _warned
    entry = {"query": query, "normalized": normalize(query), "mode": mode, "filters": filters, "results": results,
             "latency_ms": round(latency_ms, 3), "session_id": session_id or "", "created_at": timezone.now().isoformat()}
    try:
        length = _client().rpush(_buffer_key(), json.dumps(entry, default=str))
    except Exception as exc:  # Redis down or slow: the entry is dropped, said once
        if not _warned:
            logger.warning("shopsearch: search log entries are dropped, Redis does not answer (%s)", exc)
            _warned = True
        return
    if length % int(setting("SEARCH_LOG_BATCH")) == 0:
        from . import tasks

        tasks.enqueue(flush_search_log_task)


def flush_search_log(limit: int = 10000) -> int:
    """Move buffered entries into SearchLog (at most `limit` per call, popped atomically); returns how many."""
    client, key, moved = _client(), _buffer_key(), 0
    while moved < limit:
        raw = client.lpop(key, min(1000, limit - moved))
        if not raw:
            break
        rows = [json.loads(item) for item in raw]
        SearchLog.objects.bulk_create([SearchLog(**{**row, "created_at": parse_datetime(row["created_at"])}) for row in rows])
        moved += len(rows)
    return moved


def logged(search_products):
    """Wrap search.search_products so each first page of a shop search is logged (with `log=False` it is not; pass
    the shopper's `session_id` to have it in the log). Evaluation collections are never logged."""

    @functools.wraps(search_products)
    def wrapper(query, mode="hybrid", filters=None, page=1, page_size=None, *, session_id: str = "", log: bool = True, **options):
        args = (query, mode) + ((filters,) if filters is not None else ())
        if not log or page != 1 or options.get("collection", SHOP_COLLECTION) != SHOP_COLLECTION or not setting("SEARCH_LOG"):
            return search_products(*args, page=page, page_size=page_size, **options)
        started = time.perf_counter()
        result = search_products(*args, page=page, page_size=page_size, **options)
        elapsed = (time.perf_counter() - started) * 1000
        total = result.total if result.total is not None else len(result.hits) + int(result.has_next)
        chosen = {key: value for key, value in vars(filters).items() if value is not None} if filters is not None else {}
        log_search(query, mode, chosen, total, elapsed, session_id)
        return result

    return wrapper


@shared_task(name="shopsearch.flush_search_log")
def flush_search_log_task() -> dict:
    return {"logged": flush_search_log()}


def delete_old_searches(days: int | None = None) -> int:
    """Delete log entries older than SEARCH_LOG_RETENTION_DAYS (None keeps them); returns how many went."""
    days = setting("SEARCH_LOG_RETENTION_DAYS") if days is None else days
    if days is None:
        return 0
    return SearchLog.objects.filter(created_at__lt=timezone.now() - timedelta(days=float(days))).delete()[0]


@shared_task(name="shopsearch.delete_old_searches")
def delete_old_searches_task() -> dict:
    """Daily (celery beat): flush the buffer, then apply the retention."""
    flush_search_log()
    return {"deleted": delete_old_searches()}
