"""Storefront figures in a real browser: keystroke-to-rendered-results on the search page (p50/p95), the product
page of the most-reviewed product (its HTML, drawn with its sentiment answer, and the sentiment API: with the answer
the worker cached, and with it dropped before every request, so computed in the request), the judged negation
sentences' accuracy with and without negation scopes, and the judged size/fit sentences' accuracy (the cue reader
against the nearest embedded anchor phrase). Prints JSON with the machine and the data.

    DATABASE_NAME-free: python benchmarks/storefront.py --database shopsearch_bench [--url http://127.0.0.1:8000]
        [--screenshots /tmp/shots]   # also each page state as PNGs at 1280 and 375 px

The database must hold an indexed catalogue (scripts/demo's, or `import_catalog` + `reindex`). Without --url the
script serves it itself, as scripts/demo does (gunicorn, kept connections). Each query is typed one character every
60 ms into a fresh box; the time runs from the last keystroke to the moment the results for the whole query are
drawn (the page searches at once when no search is on its way, so a search still running for an earlier prefix
counts).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine, setup_django  # noqa: E402

QUERIES = [
    "summer dress",
    "warm coat",
    "jeans that don't stretch out",
    "dress for a wedding",
    "soft sweater",
    "petite pants",
    "linen shirt",
    "swimsuit",
    "lace top",
    "jacket for fall",
    "maxi skirt",
    "comfortable leggings",
    "black dress",
    "cozy cardigan",
    "blouse for work",
    "not see through top",
    "shorts",
    "tunic",
    "flattering jumpsuit",
    "pajamas",
]
TYPE_INTERVAL_S = 0.06
# The nearest of these embedded phrases (mean vector per direction) is the baseline the size/fit cues are compared with.
FIT_ANCHORS = {
    "small": ["it runs small", "too small and tight", "order a size up"],
    "true_to_size": ["true to size", "fits perfectly in my usual size"],
    "large": ["it runs large", "too big and loose", "order a size down"],
}

# Installed once in the page: the moment each answer is drawn (its results in the list, named by `data-query`), kept
# per query, so a result drawn before the benchmark asks still counts from when it was drawn.
RECORD = """
window.__drawn = {};
document.getElementById('q').addEventListener('keydown', () => { window.__lastKey = performance.now(); }, true);
const list = document.getElementById('results');
new MutationObserver(() => {
  if (list.dataset.query && list.querySelector('.card')) window.__drawn[list.dataset.query] ??= performance.now();
}).observe(list, {attributes: true, attributeFilter: ['data-query']});
"""
# Resolves once the results for exactly `query` are drawn: the time from the last keystroke, and where it went (the
# page's fetch of that query's answer: from the last keystroke to its start, the request itself, its end to drawn).
WATCH = """
const [query, done] = [arguments[0], arguments[arguments.length - 1]];
const start = window.__lastKey;
const finish = () => {
  const end = window.__drawn[query];
  const wanted = new URLSearchParams({q: query}).toString();
  const fetches = performance.getEntriesByType('resource')
    .filter((e) => e.name.includes('/api/search/?') && e.name.includes(wanted + '&') && e.startTime >= start);
  const last = fetches[fetches.length - 1];
  done(last ? {total: end - start, waited: last.startTime - start, request: last.responseEnd - last.startTime,
               drawn: end - last.responseEnd} : {total: end - start});
};
const poll = () => (window.__drawn[query] !== undefined ? finish() : setTimeout(poll, 5));
poll();
"""


def percentiles(values: list[float]) -> dict:
    return (
        {
            "n": len(values),
            "p50": round(float(np.percentile(values, 50)), 1),
            "p95": round(float(np.percentile(values, 95)), 1),
        }
        if values
        else {"n": 0}
    )


def serve(database: str) -> tuple[str, subprocess.Popen]:
    """The demo's own server on a free port, as scripts/demo starts it: gunicorn (shopsite/gunicorn.conf.py: two
    processes of four threads on two cores) with connections kept per thread (DATABASE_CONN_MAX_AGE=60).
    runserver opens a database connection for every request, 16 ms median and 31 ms p95 at load 6: a cost the demo
    never pays."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # request rates lifted: one typist's keystrokes and the repeated page requests are one client
    env = {
        **os.environ,
        "DATABASE_NAME": database,
        "DJANGO_DEBUG": "1",
        "DATABASE_CONN_MAX_AGE": "60",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "SHOPSEARCH_THROTTLE_RATES": json.dumps({"client": None, "session": None}),
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-c", "shopsite/gunicorn.conf.py", "shopsite.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(url + "/", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        process.terminate()
        raise SystemExit("the server did not start within 60 s")
    # each process's first search loads its query encoder: enough searches at once that every process gets some
    with ThreadPoolExecutor(max_workers=8) as pool:
        for queries in ([f"warm up {r} {n}" for n in range(8)] for r in range(3)):
            list(pool.map(lambda q: timed_get(f"{url}/api/search/?q={q.replace(' ', '+')}&reviews=true"), queries))
    return url, process


def timed_get(url: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as response:
        response.read()
    return (time.perf_counter() - start) * 1000


def keystrokes(url: str, rounds: int) -> dict:
    from tests.browser import chromium

    with chromium() as driver:
        driver.set_script_timeout(30)
        driver.get(url + "/")
        driver.execute_script(RECORD)
        box = driver.find_element("id", "q")
        times = []
        for _ in range(rounds):
            for query in QUERIES:
                box.clear()
                driver.execute_script("delete document.getElementById('results').dataset.query; window.__drawn = {};")
                for char in query:
                    box.send_keys(char)
                    time.sleep(TYPE_INTERVAL_S)
                times.append(driver.execute_async_script(WATCH, query))
                driver.execute_script("performance.clearResourceTimings();")
        parts = {part: percentiles([t[part] for t in times if part in t]) for part in ("waited", "request", "drawn")}
        return {
            "queries": len(QUERIES),
            "rounds": rounds,
            "from_last_keystroke_ms": percentiles([t["total"] for t in times]),
            "parts_ms": parts,  # from the last keystroke to the fetch of the whole query, the fetch, its end to drawn
        }


def product_page(url: str, product_id: str, requests: int) -> dict:
    """The page and the sentiment API, first on this server (with whatever the cache holds: the worker's answer after
    a reindex), then repeated with the cached answer and with it dropped before every request."""
    from django.core.cache import cache

    from shopsearch import review_insights
    from shopsearch.spaces import active_space

    space = active_space()
    page, api = f"{url}/products/{product_id}/", f"{url}/api/products/{product_id}/sentiment/"
    key = review_insights._cache_key(space, product_id)
    result = {"answer_was_cached": cache.get(key) is not None, "html_first_ms": round(timed_get(page), 1)}

    def uncached(target: str) -> float:
        cache.delete(key)
        return timed_get(target)

    result.update(
        {
            "html_cached_ms": percentiles([timed_get(page) for _ in range(requests)]),
            "html_computed_ms": percentiles([uncached(page) for _ in range(requests)]),
            "sentiment_cached_ms": percentiles([timed_get(api) for _ in range(requests)]),
            "sentiment_computed_ms": percentiles([uncached(api) for _ in range(requests)]),
        }
    )
    review_insights.warm(space, [product_id])  # leave it as the worker does
    return result


SCREENS = {"desktop": (1280, 900), "phone": (375, 812)}


def screenshots(url: str, product_id: str, folder: Path) -> dict:
    """Each state of the two pages, drawn as a shopper sees it at 1280 and at 375 px (the whole page): PNGs in
    `folder`, and per shot the page's status line (what it says) and whether it scrolls sideways."""
    from tests.browser import chromium

    states = {
        "start": "/",
        "results": "/?q=summer+dress",
        "facet": "/?q=summer+dress&category=Dresses",
        "emptied_by_filter": "/?q=summer+dress&min_price=10",
        "no_close_match": "/?q=xqzvwk",
        "corrected": "/?q=jaket",
        "product": f"/products/{product_id}/",
    }
    settled = "return !document.querySelector('[aria-busy=true]') && document.readyState === 'complete'"
    folder.mkdir(parents=True, exist_ok=True)
    shots = {}
    for screen, (width, height) in SCREENS.items():
        with chromium(width=width, height=height) as driver:
            for state, path in states.items():
                driver.get(url + path)
                deadline = time.monotonic() + 20
                time.sleep(0.3)  # the search starts after the page's scripts run
                while not driver.execute_script(settled) and time.monotonic() < deadline:
                    time.sleep(0.1)
                time.sleep(1.5 if state == "product" else 0.3)  # the product page's similar products come after
                name = f"{state}-{screen}.png"
                # the whole page, not the first screen: the window as tall as the page (at most 4,000 px)
                tall = driver.execute_script("return document.documentElement.scrollHeight")
                driver.set_window_size(width, min(max(tall, height), 4000))
                driver.save_screenshot(str(folder / name))
                driver.set_window_size(width, height)
                status = driver.find_elements("id", "status")
                shots[name] = {
                    "path": path,
                    "status": status[0].text if status else None,
                    "sideways_scroll": driver.execute_script("return document.documentElement.scrollWidth") > width,
                }
    return shots


def fit_sentences() -> dict:
    """The judged size/fit sentences (tests/data/fit): the cue reader per split (4 classes), and on the sentences
    with a direction (3 classes) against the nearest embedded anchor phrase."""
    from shopsearch import encoders, fit

    rows = [json.loads(line) for line in (ROOT / "tests" / "data" / "fit" / "sentences.jsonl").read_text().splitlines()]
    encoder = encoders.get_encoder(encoders.default_model())
    anchors = np.vstack(
        [np.asarray(encoder.encode(FIT_ANCHORS[d]), dtype=np.float32).mean(axis=0) for d in fit.DIRECTIONS]
    )
    anchors /= np.linalg.norm(anchors, axis=1, keepdims=True)
    result = {"sentences": len(rows), "anchors": FIT_ANCHORS}
    for split in ("dev", "test"):
        part = [row for row in rows if row["split"] == split]
        cues = [fit.sentence_direction(row["sentence"]) or "none" for row in part]
        directed = [(row, cue) for row, cue in zip(part, cues, strict=False) if row["label"] != "none"]
        vectors = np.asarray(encoder.encode([row["sentence"] for row, _ in directed]), dtype=np.float32)
        nearest = [fit.DIRECTIONS[i] for i in (vectors @ anchors.T).argmax(axis=1)]
        result[split] = {
            "sentences": len(part),
            "cues_accuracy": round(float(np.mean([c == r["label"] for c, r in zip(cues, part, strict=False)])), 3),
            "with_direction": len(directed),
            "cues_accuracy_with_direction": round(float(np.mean([c == r["label"] for r, c in directed])), 3),
            "anchors_accuracy_with_direction": round(
                float(np.mean([n == r["label"] for n, (r, _) in zip(nearest, directed, strict=False)])), 3
            ),
        }
    return result


def negation() -> dict:
    from shopsearch import encoders, sentiment

    rows = [
        json.loads(line) for line in (ROOT / "tests" / "data" / "negation" / "sentences.jsonl").read_text().splitlines()
    ]
    weights = json.loads(gzip.decompress(sentiment.DEFAULT_CLASSIFIER.read_bytes()))["weights"]
    texts = [row["sentence"] for row in rows]
    vectors = np.asarray(encoders.get_encoder(encoders.default_model()).encode(texts), dtype=np.float32)
    result = {"sentences": len(rows), "classifier": "shipped default (data/sentiment_default.json.gz)"}
    for name, flag in (("before", False), ("after", True)):
        predictions = sentiment.predict(weights, vectors, texts, negation=flag)
        right = [p.label == r["label"] for p, r in zip(predictions, rows, strict=False)]
        result[name] = {
            "accuracy": round(float(np.mean(right)), 3),
            "sign_accuracy": round(
                float(
                    np.mean(
                        [(p.score > 0) == (r["label"] == "positive") for p, r in zip(predictions, rows, strict=True)]
                    )
                ),
                3,
            ),
            **{
                subset: round(
                    float(np.mean([ok for ok, r in zip(right, rows, strict=True) if r["subset"] == subset])), 3
                )  # noqa: E501
                for subset in ("random", "negated_complaint")
            },
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="shopsearch_bench")
    parser.add_argument("--url", help="a running server on that database (default: start one)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--screenshots", type=Path, help="also save each page state at 1280 and 375 px in this folder")
    args = parser.parse_args()
    setup_django(args.database)
    from django.db.models import Count

    from shopsearch.models import Document, Embedding, ReviewSentence

    products = Document.objects.filter(collection="", kind="product").count()
    reviews = Document.objects.filter(collection="", kind="review")
    busiest = reviews.values("product_id").annotate(n=Count("pk")).order_by("-n").first()
    url, server = (args.url, None) if args.url else serve(args.database)
    try:
        report = {
            "benchmark": "storefront",
            "machine": machine(),
            "data": {
                "database": args.database,
                "products": products,
                "reviews": reviews.count(),
                "reviews_embedded": Embedding.objects.filter(kind="review", document__collection="").count(),
                "sentences": ReviewSentence.objects.count(),
                "most_reviewed_product": busiest,
            },
            "keystroke_to_results": keystrokes(url, args.rounds),
            "product_page": product_page(url, busiest["product_id"], args.requests),
            "negation_sentences": negation(),
            "fit_sentences": fit_sentences(),
        }
        if args.screenshots:
            report["screenshots"] = screenshots(url, busiest["product_id"], args.screenshots)
    finally:
        if server is not None:
            server.terminate()
    report["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
