"""Every shopper-facing endpoint and page, cold and warm, through gunicorn on an indexed catalogue; prints JSON.

The routes are those of shopsearch/api/urls.py, shopsearch/urls.py and shopsite/urls.py (the schema and its UI);
the admin and the owner's console are left out (staff pages, not the request path of a shopper). Each endpoint is
asked with the parameters a shopper's client sends, rotating over products (the most reviewed first) and queries:

- warm: one server start, every endpoint asked `--warm-up` times first (each gunicorn worker loads its query encoder,
  templates and connections on its first requests), then `--requests` times each, one at a time: p50/p95/max;
- cold: for each endpoint, the server is stopped and started again; on one keep-alive connection (so one gunicorn
  worker) a request for a path that does not exist (404: Django is up, nothing of the endpoint is loaded) and then
  the endpoint, its first request: `--cold-runs` times, each run's time, their median and max, and the 404's time
  (the worker's boot, counted apart).

Requests are sequential (concurrency 1, 127.0.0.1 only), errors are any status but the endpoint's success. Events
and sessions are written to the database: run it on a copy of a shared one (and migrated with this checkout).

    .venv/bin/python benchmarks/endpoints.py --database h18_storefront [--requests 40] [--cold-runs 2]
"""

from __future__ import annotations

import argparse
import http.client
import json
import secrets
import socket
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # noqa: E402  (gunicorn start: one implementation)
from common import machine, percentile, setup_django  # noqa: E402

SLOW_MS = 300  # the line: above it at p95, the work moves to the worker or to a precomputed table
SHARED = {"cfeval", "storefront_bench"}


def catalogue_facts(database: str) -> dict:
    """The most reviewed products (ids), a few categories: what the requests rotate over."""
    setup_django(database)
    from django.db.models import Count

    from shopsearch.models import SHOP_COLLECTION, Document

    reviewed = (
        Document.objects.filter(collection=SHOP_COLLECTION, kind="review")
        .values("product_id")
        .annotate(n=Count("id"))
        .order_by("-n")[:20]
    )
    products = [row["product_id"] for row in reviewed] or list(
        Document.objects.filter(collection=SHOP_COLLECTION, kind="product").values_list("object_id", flat=True)[:20]
    )
    if not products:
        raise SystemExit(f"{database} holds no indexed products")
    return {"products": products}


def endpoints(products: list[str], session: str) -> dict:
    """name -> (method, path or a function of n, body function or None, success status)."""
    queries = load.QUERIES

    def get(path_of, status: int = 200):
        return ("GET", path_of, None, status)

    def q(n: int) -> str:
        return urllib.parse.quote_plus(queries[n % len(queries)])

    def product(n: int) -> str:
        return products[n % len(products)]

    return {
        "GET /api/search/ hybrid": get(lambda n: f"/api/search/?q={q(n)}"),
        "GET /api/search/ keyword": get(lambda n: f"/api/search/?q={q(n)}&mode=keyword"),
        "GET /api/search/ semantic": get(lambda n: f"/api/search/?q={q(n)}&mode=semantic"),
        "GET /api/search/ hybrid reviews=true": get(lambda n: f"/api/search/?q={q(n)}&reviews=true"),
        "GET /api/search/ hybrid page 3 + filter": get(lambda n: f"/api/search/?q={q(n)}&page=3&in_stock=true"),
        "GET /api/suggest/": get(lambda n: f"/api/suggest/?q={q(n)[:3]}"),
        "GET /api/products/<id>/similar/": get(lambda n: f"/api/products/{product(n)}/similar/"),
        "GET /api/products/<id>/similar/ diversity": get(
            lambda n: f"/api/products/{product(n)}/similar/?diversity=0.5"
        ),
        "POST /api/recommendations/": (
            "POST",
            lambda n: "/api/recommendations/",
            lambda n: {"positive": [product(n), product(n + 1)], "negative": [product(n + 2)]},
            200,
        ),
        "GET /api/recommendations/for-session/": get(
            lambda n: f"/api/recommendations/for-session/?session={urllib.parse.quote(session)}"
        ),
        "GET /api/recommendations/trending/": get(lambda n: "/api/recommendations/trending/"),
        "POST /api/sessions/": ("POST", lambda n: "/api/sessions/", lambda n: {}, 201),
        "POST /api/events/": (
            "POST",
            lambda n: "/api/events/",
            lambda n: [{"type": "view", "session_id": session, "product_id": product(n)}],
            201,
        ),
        "GET /api/products/<id>/sentiment/": get(lambda n: f"/api/products/{product(n)}/sentiment/"),
        "GET /api/products/<id>/reviews/?q=": get(lambda n: f"/api/products/{product(n)}/reviews/?q={q(n)}"),
        "GET /api/schema/": get(lambda n: "/api/schema/"),
        "GET /api/docs/": get(lambda n: "/api/docs/"),
        "GET / (storefront)": get(lambda n: "/"),
        "GET /products/<id>/ (product page)": get(lambda n: f"/products/{product(n)}/"),
    }


def ask(conn: http.client.HTTPConnection, method: str, path: str, body) -> tuple[int, float]:
    """One request on a keep-alive connection: (status, milliseconds)."""
    payload = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if payload is not None else {}
    started = time.perf_counter()
    conn.request(method, path, body=payload, headers=headers)
    response = conn.getresponse()
    response.read()
    return response.status, (time.perf_counter() - started) * 1000


def accepting(port: int, process, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit("gunicorn exited; see its log")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"gunicorn did not accept connections on {port} within {timeout:.0f} s")


def serve(database: str, secret: str, log: Path):
    port = load.free_port()
    process = load.start_server(database, port, log, secret=secret)
    accepting(port, process)
    return port, process


def stop(process) -> None:
    process.terminate()
    process.wait(timeout=60)


def new_session(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", "/api/sessions/", body=b"{}", headers={"Content-Type": "application/json"})
    return json.loads(conn.getresponse().read())["session"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", required=True, help="an indexed catalogue (a copy: events are written)")
    parser.add_argument("--requests", type=int, default=40, help="warm requests per endpoint")
    parser.add_argument("--warm-up", type=int, default=8, help="requests per endpoint before the warm ones")
    parser.add_argument("--cold-runs", type=int, default=2, help="restarts per endpoint for its cold request")
    parser.add_argument("--only", nargs="*", help="endpoint names to run (default: all)")
    args = parser.parse_args()
    if args.database in SHARED:
        raise SystemExit(f"{args.database} is shared: run on a copy (CREATE DATABASE x TEMPLATE {args.database})")
    facts = catalogue_facts(args.database)
    secret, log = secrets.token_urlsafe(50), Path(tempfile.mkdtemp(prefix="endpoints-")) / "gunicorn.log"
    before = machine()

    port, process = serve(args.database, secret, log)
    try:
        session = new_session(port)
        table = endpoints(facts["products"], session)
        names = [name for name in table if not args.only or name in args.only]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for product in facts["products"][:5]:  # the session has seen something: for-session answers
            ask(conn, "POST", "/api/events/", [{"type": "view", "session_id": session, "product_id": product}])
        results: dict = {}
        for name in names:
            method, path_of, body_of, _ = table[name]
            for n in range(args.warm_up):
                ask(conn, method, path_of(n), body_of(n) if body_of else None)
        for name in names:
            method, path_of, body_of, success = table[name]
            times, errors = [], {}
            for n in range(args.requests):
                status, ms = ask(conn, method, path_of(n + args.warm_up), body_of(n) if body_of else None)
                if status == success:
                    times.append(ms)
                else:
                    errors[str(status)] = errors.get(str(status), 0) + 1
            results[name] = {
                "warm": {
                    "ok": len(times),
                    "errors": errors,
                    "p50_ms": round(percentile(times, 0.5), 1) if times else None,
                    "p95_ms": round(percentile(times, 0.95), 1) if times else None,
                    "max_ms": round(max(times), 1) if times else None,
                }
            }
    finally:
        stop(process)
    warm_load = machine()["load_average"]

    for name in names:
        method, path_of, body_of, success = table[name]
        runs, boots, statuses = [], [], []
        for run in range(args.cold_runs):
            port, process = serve(args.database, secret, log)
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=180)
                boots.append(round(ask(conn, "GET", "/cold-probe-no-such-page/", None)[1], 1))
                status, ms = ask(conn, method, path_of(run), body_of(run) if body_of else None)
            finally:
                stop(process)
            runs.append(round(ms, 1))
            statuses.append(status)
        results[name]["cold"] = {
            "runs_ms": runs,
            "median_ms": round(median(runs), 1),
            "max_ms": max(runs),
            "boot_404_ms": boots,
            "statuses": statuses if any(s != success for s in statuses) else "all ok",
        }
    over = [
        name
        for name, result in results.items()
        if (result["warm"]["p95_ms"] or 0) > SLOW_MS or result["cold"]["median_ms"] > SLOW_MS
    ]
    print(
        json.dumps(
            {
                "benchmark": "endpoints",
                "database": args.database,
                "server": "gunicorn gthread (shopsite/gunicorn.conf.py), DEBUG off, request rates lifted",
                "requests_per_endpoint": args.requests,
                "cold_runs": args.cold_runs,
                "machine_before": before,
                "load_average_after_warm": warm_load,
                "machine_after": machine(),
                "endpoints": results,
                f"over_{SLOW_MS}_ms_warm_p95_or_cold_median": over,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
