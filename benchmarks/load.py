r"""Bounded load on /api/search/ (keyword and hybrid) through the demo served by gunicorn; prints JSON.

Starts gunicorn itself (shopsite/gunicorn.conf.py, as scripts/demo does, but DEBUG off and request rates lifted:
one client sending hundreds of requests is what the rates are there to stop) on a free 127.0.0.1 port, against a
database that already holds the demo catalogue with its product vectors:

    DATABASE_NAME=loaddemo DJANGO_DEBUG=1 .venv/bin/python manage.py migrate
    DATABASE_NAME=loaddemo DJANGO_DEBUG=1 .venv/bin/python manage.py import_catalog \
        --products catalog/fixtures/demo_products.jsonl.gz
    DATABASE_NAME=loaddemo DJANGO_DEBUG=1 .venv/bin/python manage.py reindex --kind product
    .venv/bin/python benchmarks/load.py --database loaddemo [--requests 400] [--time-limit 60] [--concurrency 1 4 16]

After a warm-up (every worker loads its query encoder on its first search), at each concurrency, that many client
threads (keep-alive connections) send queries from a fixed list until `--requests` are answered or `--time-limit`
seconds pass; errors are any answer but 200 (by status) or a failed connection. Figures: p50/p95/p99 latency,
throughput, and the most PostgreSQL connections the database had during the run. Client and server share the
machine's cores: read the figures with its load average.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine, percentile  # noqa: E402

# What shoppers of a clothing shop type: classes, materials, occasions, fits (the demo catalogue is clothing).
QUERIES = [
    "warm coat for winter",
    "summer dress",
    "jeans",
    "soft sweater",
    "blouse for work",
    "swimsuit",
    "pajamas",
    "skirt",
    "lightweight jacket",
    "knit top",
    "something for a wedding",
    "comfortable pants",
    "lounge wear",
    "petite dress",
    "casual shorts",
    "trousers",
    "cardigan",
    "linen shirt",
    "intimates",
    "fleece",
    "party dress",
    "leggings",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(database: str, port: int, log_path: Path, secret: str | None = None) -> subprocess.Popen:
    """gunicorn on 127.0.0.1:`port`; `secret` keeps signed session ids valid across restarts (default: a new one)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    env.update(
        DATABASE_NAME=database,
        DJANGO_SECRET_KEY=secret or secrets.token_urlsafe(50),
        DATABASE_CONN_MAX_AGE="60",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        SHOPSEARCH_THROTTLE_RATES=json.dumps({"client": None, "session": None, "new_session": None}),
        CELERY_TASK_ALWAYS_EAGER="1",
    )
    log = open(log_path, "w")
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "shopsite/gunicorn.conf.py", "shopsite.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_until_serving(port: int, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit("gunicorn exited; see its log")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request(
                "GET", "/api/search/?" + urllib.parse.urlencode({"q": "dress", "mode": "hybrid"})
            )  # warms a query encoder
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.5)
    sys.exit(f"gunicorn did not answer 200 on port {port} within {timeout:.0f} s")


def connections_sampler(database: str, stop: threading.Event, seen: list[int]) -> None:
    """The most connections PostgreSQL had to the database, sampled every 50 ms."""
    import psycopg

    from shopsite import embedded_db

    url = os.environ.get("DATABASE_URL") or embedded_db.database_url(database)
    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.is_set():
            seen.append(
                conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [database]).fetchone()[0] - 1
            )
            time.sleep(0.05)


def run_level(port: int, mode: str, concurrency: int, requests: int, time_limit: float, params=None) -> dict:
    """`requests` searches from `concurrency` clients (stopped at `time_limit` seconds), each a GET /api/search/ with
    the query parameters `params(n, worker)` gives (default: this script's queries in rotation, in `mode`)."""
    params = params or (lambda n, worker: {"q": QUERIES[(n + worker) % len(QUERIES)], "mode": mode, "page_size": 20})
    lock = threading.Lock()
    latencies: list[float] = []
    errors: Counter = Counter()
    issued = 0
    deadline = time.monotonic() + time_limit

    def client(worker: int) -> None:
        nonlocal issued
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.monotonic() < deadline:
            with lock:
                if issued >= requests:
                    return
                n = issued
                issued += 1
            path = "/api/search/?" + urllib.parse.urlencode(params(n, worker))
            start = time.perf_counter()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                status = type(exc).__name__
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            elapsed = (time.perf_counter() - start) * 1000
            with lock:
                if status == 200:
                    latencies.append(elapsed)
                else:
                    errors[str(status)] += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(client, range(concurrency)))
    wall = time.perf_counter() - started
    answered = len(latencies)
    return {
        "mode": mode,
        "concurrency": concurrency,
        "requests": answered + sum(errors.values()),
        "ok": answered,
        "errors": dict(errors),
        "p50_ms": round(percentile(latencies, 0.5), 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 0.95), 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99), 1) if latencies else None,
        "mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
        "throughput_rps": round(answered / wall, 1),
        "wall_s": round(wall, 1),
        "stopped_by_time_limit": answered + sum(errors.values()) < requests,
    }


def warm(port: int) -> list[float]:
    """Concurrent hybrid searches until none is slow: each gunicorn worker loads its query encoder on its first one
    (seconds), which is start-up, not load. The slowest answer of each round, in ms."""
    workers = int(os.environ.get("GUNICORN_WORKERS") or max(2, os.cpu_count() or 1))
    threads = int(os.environ.get("GUNICORN_THREADS") or 4)
    rounds = []
    for _ in range(10):
        level = run_level(port, "hybrid", workers * threads, 4 * workers * threads, 120)
        rounds.append(level["p99_ms"])
        if level["p99_ms"] is not None and level["p99_ms"] < 1000:
            break
    return rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database", default="loaddemo", help="a database holding the demo catalogue and its product vectors"
    )
    parser.add_argument("--requests", type=int, default=400, help="requests per mode and concurrency")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per mode and concurrency at most")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--modes", nargs="+", default=["keyword", "hybrid"])
    args = parser.parse_args()

    port = free_port()
    log_path = ROOT / ".data" / "load-gunicorn.log"
    log_path.parent.mkdir(exist_ok=True)
    before = machine()
    process = start_server(args.database, port, log_path)
    try:
        wait_until_serving(port, process)
        warm_up = warm(port)
        stop, seen = threading.Event(), []
        sampler = threading.Thread(target=connections_sampler, args=(args.database, stop, seen), daemon=True)
        sampler.start()
        levels = [
            run_level(port, mode, concurrency, args.requests, args.time_limit)
            for mode in args.modes
            for concurrency in args.concurrency
        ]
        stop.set()
        sampler.join(timeout=5)
    finally:
        process.terminate()
        process.wait(timeout=60)
    config = {key: os.environ.get(key) for key in ("GUNICORN_WORKERS", "GUNICORN_THREADS")}
    workers = int(config["GUNICORN_WORKERS"] or max(2, os.cpu_count() or 1))
    threads = int(config["GUNICORN_THREADS"] or 4)
    print(
        json.dumps(
            {
                "benchmark": "load",
                "url": f"http://127.0.0.1:{port}/api/search/",
                "database": args.database,
                "server": {
                    "gunicorn": "gthread",
                    "workers": workers,
                    "threads": threads,
                    "DEBUG": False,
                    "DATABASE_CONN_MAX_AGE": 60,
                },
                "machine_before": before,
                "machine_after": machine(),
                "max_database_connections": max(seen) if seen else None,
                "warm_up_slowest_ms": warm_up,
                "queries": len(QUERIES),
                "levels": levels,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
