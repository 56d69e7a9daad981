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
from datetime import date, datetime, timedelta

from celery import current_app, shared_task
from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .conf import setting
from .models import SHOP_COLLECTION, Event, SearchLog

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
    entry = {
        "query": query,
        "normalized": normalize(query),
        "mode": mode,
        "filters": filters,
        "results": results,
        "latency_ms": round(latency_ms, 3),
        "session_id": session_id or "",
        "created_at": timezone.now().isoformat(),
    }
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
        SearchLog.objects.bulk_create(
            [SearchLog(**{**row, "created_at": parse_datetime(row["created_at"])}) for row in rows]
        )
        moved += len(rows)
    return moved


def logged(search_products):
    """Wrap search.search_products so each first page of a shop search is logged (with `log=False` it is not; pass
    the shopper's `session_id` to have it in the log). Evaluation collections are never logged."""

    @functools.wraps(search_products)
    def wrapper(
        query, mode="hybrid", filters=None, page=1, page_size=None, *, session_id: str = "", log: bool = True, **options
    ):
        args = (query, mode) + ((filters,) if filters is not None else ())
        if (
            not log
            or page != 1
            or options.get("collection", SHOP_COLLECTION) != SHOP_COLLECTION
            or not setting("SEARCH_LOG")
        ):
            return search_products(*args, page=page, page_size=page_size, **options)
        started = time.perf_counter()
        result = search_products(*args, page=page, page_size=page_size, **options)
        elapsed = (time.perf_counter() - started) * 1000
        total = result.total if result.total is not None else len(result.hits) + int(result.has_next)
        chosen = (
            {key: value for key, value in vars(filters).items() if value is not None} if filters is not None else {}
        )
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


# --- the owner's figures ------------------------------------------------------------------------------------------

REPORT_ROWS = 50  # rows per table on the page (the CSV export has them all)


def _range(start: date | None, end: date | None) -> tuple[datetime, datetime, date, date]:
    """[start 00:00, the day after end 00:00) in the current time zone; default: the last 30 days, today included."""
    today = timezone.localdate()
    end = end or today
    start = start or end - timedelta(days=29)
    tz = timezone.get_current_timezone()
    return (
        datetime.combine(start, datetime.min.time(), tz),
        datetime.combine(end + timedelta(days=1), datetime.min.time(), tz),
        start,
        end,
    )


def report(start: date | None = None, end: date | None = None) -> dict:
    """Every figure of the analytics page for the days start..end (both included).

    Per normalised query: searches, zero-result searches, clicks (click events carrying that query, normalised the
    same way), CTR = clicks / searches, mean 1-based click position. Per day: searches, zero-result searches and
    the latency percentiles (PostgreSQL percentile_cont: interpolated, as numpy's default).
    """
    since, until, start, end = _range(start, end)
    searches = SearchLog.objects.filter(created_at__gte=since, created_at__lt=until)
    per_query = {
        row["normalized"]: row
        for row in searches.values("normalized").annotate(searches=Count("id"), zero=Count("id", filter=Q(results=0)))
    }
    clicks: dict[str, list[int]] = {}
    for query, position in (
        Event.objects.filter(type=Event.Type.CLICK, created_at__gte=since, created_at__lt=until)
        .exclude(query="")
        .values_list("query", "position")
    ):
        clicks.setdefault(normalize(query), []).append(position)
    rows = []
    for query, row in per_query.items():
        positions = [p for p in clicks.get(query, []) if p is not None]
        n_clicks = len(clicks.get(query, []))
        rows.append(
            {
                "query": query,
                "searches": row["searches"],
                "zero_results": row["zero"],
                "clicks": n_clicks,
                "ctr": round(n_clicks / row["searches"], 4),
                "mean_click_position": round(sum(positions) / len(positions), 2) if positions else None,
            }
        )
    rows.sort(key=lambda r: (-r["searches"], r["query"]))
    query_columns = ["query", "searches", "zero_results", "clicks", "ctr", "mean_click_position"]
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT (created_at AT TIME ZONE %s)::date AS day, count(*), count(*) FILTER (WHERE results = 0),
                      percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms), percentile_cont(0.95) WITHIN GROUP (ORDER
                      BY latency_ms)
               FROM shopsearch_searchlog WHERE created_at >= %s AND created_at < %s GROUP BY day ORDER BY day""",
            [timezone.get_current_timezone_name(), since, until],
        )
        days = [
            [day.isoformat(), n, zero, round(p50, 2), round(p95, 2)] for day, n, zero, p50, p95 in cursor.fetchall()
        ]
    total = sum(r["searches"] for r in rows)
    total_clicks = sum(r["clicks"] for r in rows)

    def table(title, columns, items):
        return {
            "title": title,
            "columns": columns,
            "rows": [[item[c] for c in columns] if isinstance(item, dict) else item for item in items],
        }

    return {
        "start": start,
        "end": end,
        "summary": {
            "searches": total,
            "distinct_queries": len(rows),
            "zero_result_searches": sum(r["zero_results"] for r in rows),
            "clicks": total_clicks,
            "ctr": round(total_clicks / total, 4) if total else None,
        },
        "tables": {
            "top_queries": table("Top queries", query_columns, rows),
            "zero_results": table("Queries that found nothing", query_columns, [r for r in rows if r["zero_results"]]),
            "no_clicks": table("Queries without clicks", query_columns, [r for r in rows if not r["clicks"]]),
            "per_day": table(
                "Searches and latency per day",
                ["day", "searches", "zero_result_searches", "latency_p50_ms", "latency_p95_ms"],
                days,
            ),
        },
    }


# --- query suggestions --------------------------------------------------------------------------------------------


def suggest(prefix: str, limit: int | None = None) -> dict[str, list]:
    """Completions for what a shopper has typed so far: past queries that found something and product titles.

    Queries: normalised log entries with results whose text starts with the prefix, or is trigram-similar to it
    (a typo), weighted by frequency and recency (each search counts 0.5 ** (age / SUGGEST_HALF_LIFE_DAYS));
    prefix matches first. Titles: shop products whose title has a word starting with the prefix, or a word
    trigram-similar to it (pg_trgm word_similarity ≥ SUGGEST_SIMILARITY), most similar first.
    """
    limit = limit or int(setting("SUGGEST_LIMIT"))
    typed = normalize(prefix)
    if not typed:
        return {"queries": [], "products": []}
    similarity = float(setting("SUGGEST_SIMILARITY"))
    half_life = float(setting("SUGGEST_HALF_LIFE_DAYS")) * 86400
    pattern = typed.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT normalized, normalized LIKE %s AS prefix,
                      sum(power(0.5, extract(epoch FROM now() - created_at) / %s)) AS weight
               FROM shopsearch_searchlog
               WHERE results > 0 AND created_at >= now() - make_interval(days => %s)
                 AND (normalized LIKE %s OR word_similarity(%s, normalized) >= %s)
               GROUP BY normalized ORDER BY prefix DESC, weight DESC, normalized LIMIT %s""",
            [pattern, half_life, int(setting("SEARCH_LOG_RETENTION_DAYS") or 3650), pattern, typed, similarity, limit],
        )
        queries = [{"query": query, "weight": round(float(weight), 4)} for query, _, weight in cursor.fetchall()]
        cursor.execute(
            """SELECT object_id, title FROM (
                   SELECT object_id, title, (t LIKE %s OR t LIKE %s) AS prefix, word_similarity(%s, t) AS similarity
                   FROM (SELECT object_id, title, lower(shopsearch_unaccent(title)) AS t FROM shopsearch_document
                         WHERE collection = %s AND kind = 'product') d) m
               WHERE prefix OR similarity >= %s ORDER BY prefix DESC, similarity DESC, title, object_id LIMIT %s""",
            [pattern, "% " + pattern, typed, SHOP_COLLECTION, similarity, limit],
        )
        products = [{"id": object_id, "title": title} for object_id, title in cursor.fetchall()]
    return {"queries": queries, "products": products}
