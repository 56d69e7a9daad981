"""What logging a search costs the request, and how fast a worker moves the buffer into the database; prints JSON.

`log_search` is the only thing a logged search adds to the request path (analytics.logged also reads the clock):
one JSON line pushed to Redis. The rules wrapper (rules.merchandised) adds one cache read of the rules' version
(`rules.snapshot`), measured the same way with no rules. Measured over N calls with realistic entries (N from argv,
default 2000), then the buffer is flushed into SearchLog in one run and the rows deleted again. Usage: python
benchmarks/search_log.py [N]
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, setup_django  # noqa: E402


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    setup_django("shopsearch_bench_searchlog")
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.test.utils import override_settings

    from shopsearch import analytics
    from shopsearch.models import SearchLog

    client, key = analytics._client(), analytics._buffer_key()
    client.delete(key)
    timings = []
    with override_settings(SHOPSEARCH={"SEARCH_LOG_BATCH": calls * 10}):  # no flush task during the measurement
        for n in range(calls):
            started = time.perf_counter()
            analytics.log_search(
                f"Summer dress {n % 50}", "hybrid", {"category": "Dresses", "in_stock": True}, 37, 41.5, "sess-abc"
            )
            timings.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    moved = analytics.flush_search_log(limit=calls)
    flush_seconds = time.perf_counter() - started
    SearchLog.objects.filter(session_id="sess-abc").delete()
    timings.sort()
    from shopsearch import rules

    rules.snapshot()
    snapshot_timings = []
    for _ in range(calls):
        started = time.perf_counter()
        rules.snapshot()
        snapshot_timings.append((time.perf_counter() - started) * 1000)
    snapshot_timings.sort()
    print(
        json.dumps(
            {
                "benchmark": "search_log",
                "machine": machine(),
                "data": {"entries": calls, "buffer": "Redis list (the broker)"},
                "log_search_ms": {
                    "p50": round(statistics.median(timings), 4),
                    "p95": round(timings[int(0.95 * len(timings))], 4),
                    "max": round(timings[-1], 3),
                },
                "rules_snapshot_ms": {
                    "p50": round(statistics.median(snapshot_timings), 4),
                    "p95": round(snapshot_timings[int(0.95 * len(snapshot_timings))], 4),
                },
                "flush": {
                    "rows": moved,
                    "seconds": round(flush_seconds, 3),
                    "rows_per_second": round(moved / flush_seconds),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
