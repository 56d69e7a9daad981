"""Scale, end to end: catalogues of N real product texts through the normal pipeline and a real gunicorn; prints JSON.

    .venv/bin/python benchmarks/scale.py --database hFscale --sizes 10000 30000
    .venv/bin/python benchmarks/scale.py --database hFsmoke --smoke          # 2,000 products, few requests
    .venv/bin/python benchmarks/scale.py --database h18idx --sizes 2000 --indexing-only   # 1 vs 2 worker processes

Each size gets a fresh database of its own (`<database>_<size>`, dropped and created). The catalogue is read at run
time from ../shared/data, never copied into the repository:
  1. crowdflower_dev/products.jsonl (9,913 real products: title, description), then
  2. magento_luma/products.jsonl (191: title, description, attributes),
  3. beyond those 10,104, derived rows from womens_clothing_reviews/reviews.jsonl (22,641 real reviews, in file order):
     product id "wcp-<review id>", title "<class>: <first 8 words of the review text>", description the review's text
     (32,749 rows in all, every one a real text);
  4. beyond those, recombined rows: row k (from 0) of this part takes the title of real row k mod R and the
     description of real row (7919 * k + 1) mod R (R = the 32,749 rows above; 7919 is prime to R, so the
     descriptions cycle through every real row in another order than the titles), product id "mix-<k>": real words
     in real proportions, so document frequencies grow with the catalogue as a shop's do, but no new vocabulary.
Every product gets a synthetic category (one of 12), price (5-500) and stock from a sha256 of its id, the declared
filters of the demo shop.

Steps and figures, per size:
  - import: `manage.py import_catalog` (seconds);
  - indexing: `manage.py reindex --async --kind product` with a real Celery worker of 1, then (after deleting the
    space's product vectors) of 2 prefork processes (1 torch thread each), products/s, the worker's RSS (parent +
    children, sampled every 0.5 s, the most seen); against the bare model's rate (encoders.get_encoder().encode) on a
    sample of the same texts, in this process, 2 torch threads and 1 torch thread;
  - HNSW: `REINDEX INDEX` of the space's product index (build time), table and index sizes, bytes per product;
  - recall@10 of the filtered vector search (search.nearest_products) against an exact scan with the same filters,
    on the crowdflower queries, with the shipped exact-scan rule (EXACT_SEARCH_MAX_ROWS) and with HNSW forced;
    the share of full pages;
  - search through gunicorn (benchmarks/load.py starts and warms it): per mode (keyword, semantic, hybrid), without
    and with filters (rotating: a category, a price range, in stock, all three), at each concurrency, bounded by
    --requests and --time-limit: p50/p95/p99, throughput, errors;
  - with several sizes, growth ratios of each cost from the smallest to each larger size.
Client, server, worker and database share the machine's cores: read every figure with the load average printed.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import load  # noqa: E402  (gunicorn start and warm-up: one implementation)
from common import ROOT, machine, percentile, setup_django, tie_aware_recall  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
CATEGORIES = [f"Category {n:02d}" for n in range(12)]
MAX_SIZE = 1_000_000
SMOKE_SIZE = 2_000


def synthetic(object_id: str) -> dict:
    """Category, price and stock from a hash of the id (stable across runs)."""
    h = int(hashlib.sha256(object_id.encode()).hexdigest(), 16)
    return {"category": CATEGORIES[h % 12], "price": 5 + (h >> 8) % 496, "in_stock": (h >> 20) % 4 != 0}


def _jsonl(path: Path):
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def catalogue(size: int) -> list[dict]:
    """`size` product rows for import_catalog, real texts first, derived rows after (see the module docstring)."""
    if size > MAX_SIZE:
        raise SystemExit(f"--sizes: at most {MAX_SIZE}")
    rows = []
    for row in _jsonl(DATA / "crowdflower_dev" / "products.jsonl"):
        rows.append({"id": row["id"], "title": row["title"], "description": row.get("description", "")})
    for row in _jsonl(DATA / "magento_luma" / "products.jsonl"):
        rows.append(
            {
                "id": row["id"],
                "title": row["title"],
                "description": row.get("description", ""),
                "attributes": row.get("attributes", {}),
            }
        )
    if len(rows) < size:
        for row in _jsonl(DATA / "womens_clothing_reviews" / "reviews.jsonl"):
            text = (row.get("text") or "").strip()
            if not text:
                continue
            rows.append(
                {
                    "id": f"wcp-{row['id']}",
                    "title": f"{row.get('class') or 'Clothing'}: {' '.join(text.split()[:8])}",
                    "description": text,
                }
            )
            if len(rows) >= size:
                break
    real = len(rows)
    rows += [
        {"id": f"mix-{k}", "title": rows[k % real]["title"], "description": rows[(7919 * k + 1) % real]["description"]}
        for k in range(max(0, size - real))
    ]
    return [{**row, **synthetic(row["id"])} for row in rows[:size]]


def queries() -> list[str]:
    with open(DATA / "crowdflower_dev" / "queries.tsv", encoding="utf-8") as handle:
        return [line.split("\t", 1)[1].strip() for line in handle if "\t" in line]


def rotating_filters(index: int) -> dict:
    """A category (~8 %), a price range (~40 %), in stock (~75 %), all three together."""
    return [
        {"category": CATEGORIES[index % 12]},
        {"min_price": "50", "max_price": "250"},
        {"in_stock": "true"},
        {"category": CATEGORIES[index % 12], "max_price": "300", "in_stock": "true"},
    ][index % 4]


def child_env(database: str, **extra: str) -> dict:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_NAME", "CELERY_"))
    }
    env.update(DATABASE_NAME=database, DJANGO_SECRET_KEY=os.environ["DJANGO_SECRET_KEY"], PYTHONUNBUFFERED="1", **extra)
    return env


def manage(database: str, *args: str, **extra: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=child_env(database, **extra),
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=7200,
    )
    return time.perf_counter() - started


def rss_mb(pid: int) -> float:
    import psutil

    try:
        parent = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)]) / 2**20
    except psutil.NoSuchProcess:
        return 0.0


def indexing_run(database: str, processes: int, work: Path) -> dict:
    """reindex --async with a fresh worker of `processes` prefork children on a queue of its own."""
    queue = f"hf-scale-{uuid.uuid4().hex[:8]}"
    extra = {"CELERY_QUEUE": queue}
    if processes > 1:
        extra["SHOPSEARCH_TORCH_THREADS"] = "1"
    log = open(work / f"worker-{processes}.log", "w")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "shopsite",
            "worker",
            "-Q",
            queue,
            "-c",
            str(processes),
            "--pool",
            "prefork",
            "-l",
            "WARNING",
            "-n",
            f"{queue}@%h",
        ],
        cwd=ROOT,
        env=child_env(database, **extra),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    peak, stop = [0.0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mb(worker.pid))
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        time.sleep(15)  # the children load the model after the parent says ready; the rate is of warm workers
        sampler.start()
        seconds = manage(database, "reindex", "--async", "--kind", "product", "--no-progress", **extra)
    finally:
        stop.set()
        worker.terminate()
        worker.wait(timeout=120)
        log.close()
    return {
        "worker_processes": processes,
        "torch_threads_per_process": 1 if processes > 1 else "torch default",
        "seconds": round(seconds, 1),
        "steady_products_per_s": steady_rate(),
        "worker_rss_peak_mb": round(peak[0]),
    }


def steady_rate() -> float:
    """Products per second between the first and the last product vector written (their `updated_at`): the workers'
    rate once they run, without the command's start or the children's model loading."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), extract(epoch FROM max(updated_at) - min(updated_at)) FROM shopsearch_embedding "
            "WHERE kind = 'product'"
        )
        count, seconds = cursor.fetchone()
    connection.close()
    return round((count - 1) / float(seconds), 1) if count > 1 and seconds else 0.0


def bare_rate(texts: list[str], threads: int) -> float:
    """Texts per second of the shipped encoder (BULK_ENCODER's runtime) alone, in this process, `threads` threads."""
    import torch
    from django.conf import settings
    from django.test import override_settings

    from shopsearch import encoders

    torch.set_num_threads(threads)
    encoder = encoders.get_encoder(encoders.default_model())
    with override_settings(SHOPSEARCH={**settings.SHOPSEARCH, "TORCH_THREADS": threads}):
        encoder.encode(texts[:32])
        started = time.perf_counter()
        encoder.encode(texts)
    return len(texts) / (time.perf_counter() - started)


def bare_rates(texts: list[str]) -> dict:
    return {
        "products_per_s_2_threads": round(bare_rate(texts, 2), 1),
        "products_per_s_1_thread": round(bare_rate(texts, 1), 1),
        "load_average": machine()["load_average"],
    }


def sample_texts(rows: list[dict]) -> list[str]:
    """The embedded texts of these catalogue rows (the shipped recipe)."""
    from shopsearch import registry

    return [
        registry.product_text(
            registry.ProductDocument(
                title=r["title"], description=r["description"], attributes=r.get("attributes") or {}
            )
        )
        for r in rows
    ]


def first_products(count: int) -> list[str]:
    """The shop's first `count` product ids (primary keys, in import order: the catalogue's first rows)."""
    from shopsearch import registry

    model = registry.indexed_model("product")
    return [str(pk) for pk in model._default_manager.order_by("pk").values_list("pk", flat=True)[:count]]


def profile_with_bare(space, rows: list[dict]) -> dict:
    """pipeline_profile of these products between two bare-model measurements on their texts, all in this process
    (2 threads), so the ratio compares the pipeline with the model a few minutes apart at most."""
    texts = sample_texts(rows)
    before = bare_rates(texts)
    profile = pipeline_profile(space, first_products(len(rows)))
    after = bare_rates(texts)
    bare = (before["products_per_s_2_threads"] + after["products_per_s_2_threads"]) / 2
    return {
        "bare_before": before,
        "pipeline_profile": profile,
        "bare_after": after,
        "pipeline_products_per_s": round(profile["products"] / profile["seconds"], 2),
        "pipeline_over_bare_2_threads": round(profile["products"] / profile["seconds"] / bare, 3),
    }


def pipeline_profile(space, object_ids: list[str]) -> dict:
    """indexing.index_objects over these products in this process, in reindex batches, their vectors deleted first,
    with the encoder's time taken apart: what the pipeline spends besides the model, whatever the machine's load."""
    from django.db import connection

    from shopsearch import encoders, indexing
    from shopsearch.conf import setting

    encoder, spent = encoders.get_encoder(space.model_name), [0.0]
    model_encode = encoder.encode

    def timed(texts):
        started = time.perf_counter()
        try:
            return model_encode(texts)
        finally:
            spent[0] += time.perf_counter() - started

    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM shopsearch_embedding e USING shopsearch_document d WHERE e.document_id = d.id "
            "AND e.space_id = %s AND d.kind = 'product' AND d.object_id = ANY(%s)",
            [space.pk, object_ids],
        )
    batch = int(setting("REINDEX_BATCH_SIZE"))
    model_encode(["warm up"])  # the runtime this process indexes with is loaded (and checked) outside the timing
    encoder.encode = timed
    try:
        started = time.perf_counter()
        embedded = sum(
            indexing.index_objects("product", object_ids[start : start + batch], space)[0]
            for start in range(0, len(object_ids), batch)
        )
        total = time.perf_counter() - started
    finally:
        del encoder.encode
    return {
        "products": len(object_ids),
        "embedded": embedded,
        "batch": batch,
        "seconds": round(total, 2),
        "encode_seconds": round(spent[0], 2),
        "other_share": round(1 - spent[0] / total, 4),
    }


def sizes_and_build(space) -> dict:
    from django.db import connection

    from shopsearch import spaces

    index = spaces.index_name(space, "product")
    with connection.cursor() as cursor:
        cursor.execute("SHOW maintenance_work_mem")
        mwm = cursor.fetchone()[0]
        cursor.execute("SHOW max_parallel_maintenance_workers")
        parallel = cursor.fetchone()[0]
        started = time.perf_counter()
        cursor.execute(f"REINDEX INDEX {index}")
        build = time.perf_counter() - started
        cursor.execute("ANALYZE shopsearch_embedding")
        sizes = {}
        for name, expression in [
            ("document_table_bytes", "pg_table_size('shopsearch_document')"),
            ("document_indexes_bytes", "pg_indexes_size('shopsearch_document')"),
            ("embedding_table_bytes", "pg_table_size('shopsearch_embedding')"),
            ("embedding_indexes_bytes", "pg_indexes_size('shopsearch_embedding')"),
            ("hnsw_product_index_bytes", f"pg_relation_size('{index}')"),
            ("database_bytes", "pg_database_size(current_database())"),
        ]:
            cursor.execute(f"SELECT {expression}")
            sizes[name] = cursor.fetchone()[0]
    return {
        "hnsw_build_seconds": round(build, 1),
        "maintenance_work_mem": mwm,
        "max_parallel_maintenance_workers": parallel,
        **sizes,
    }


def recall(space, query_texts: list[str]) -> dict:
    """recall@10 of nearest_products against an exact scan with the same filters: by ids, and tie-aware (the share
    of the 10 returned within 1e-4 of the exact 10th distance, as ann-benchmarks counts: where several products
    share a text or nearly, which of them an index returns is arbitrary and no worse)."""
    from django.conf import settings
    from django.db import connection, transaction
    from django.test import override_settings

    from shopsearch import search, sql
    from shopsearch.conf import setting

    vectors = [search.encode_query(space, text) for text in query_texts]

    def exact(vector, filters) -> list[tuple[int, float]]:
        where, params = search.filter_sql(filters)
        literal = sql.vector_param(vector)
        distance = sql.distance("e.vector", space)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT e.document_id, {distance} FROM shopsearch_embedding e "
                f"JOIN shopsearch_document d ON d.id = e.document_id "
                f"WHERE e.space_id = %s AND e.kind = 'product' AND d.collection = ''{where} "
                f"ORDER BY ({distance}) + 0 LIMIT 10",
                [literal, space.pk, *params, literal],
            )
            return cursor.fetchall()

    def measure() -> dict:
        found, tie_aware, full, latencies = [], [], 0, []
        for n, vector in enumerate(vectors):
            raw = rotating_filters(n)
            filters = search.Filters(
                category=raw.get("category"),
                min_price=Decimal(raw["min_price"]) if "min_price" in raw else None,
                max_price=Decimal(raw["max_price"]) if "max_price" in raw else None,
                in_stock=True if "in_stock" in raw else None,
            )
            truth = exact(vector, filters)
            started = time.perf_counter()
            got = search.nearest_products(space, vector, filters, 10)
            latencies.append((time.perf_counter() - started) * 1000)
            found.append(len({d for d, _ in got} & {d for d, _ in truth}) / max(1, len(truth)))
            tie_aware.append(tie_aware_recall(got, [distance for _, distance in truth]))
            full += len(got) == min(10, len(truth))
        return {
            "recall_at_10": round(sum(found) / len(found), 4),
            "recall_at_10_tie_aware": round(sum(tie_aware) / len(tie_aware), 4),
            "full_pages": round(full / len(vectors), 4),
            "p50_ms": round(percentile(latencies, 0.5), 1),
            "p95_ms": round(percentile(latencies, 0.95), 1),
        }

    shipped = measure()
    with override_settings(SHOPSEARCH={**settings.SHOPSEARCH, "EXACT_SEARCH_MAX_ROWS": 0}):
        forced = measure()
    return {
        "queries": len(vectors),
        "ef_search": setting("HNSW_EF_SEARCH"),
        "exact_search_max_rows": setting("EXACT_SEARCH_MAX_ROWS"),
        "shipped_rule": shipped,
        "hnsw_forced": forced,
    }


def halfvec_versus_vector(space, query_texts: list[str]) -> dict:
    """halfvec (16-bit) against vector (32-bit) storage of the same product vectors, in two side tables of this
    benchmark's database (scale_vector, scale_halfvec: document id + vector only, so their sizes compare alike):
    HNSW build time (same m / ef_construction as the space's), table and index sizes, and recall@10 / latency of an
    HNSW top-10 against the exact top-10 over the 32-bit vectors."""
    from django.db import connection, transaction

    from shopsearch import search, sql
    from shopsearch.conf import setting

    dims = int(space.dimensions)
    options = f"WITH (m = {int(setting('HNSW_M'))}, ef_construction = {int(setting('HNSW_EF_CONSTRUCTION'))})"
    vectors = [sql.vector_param(search.encode_query(space, text)) for text in query_texts]
    out = {}
    with connection.cursor() as cursor:
        exact = []
        for literal in vectors:
            cursor.execute(
                f"SELECT document_id FROM shopsearch_embedding WHERE space_id = %s AND kind = 'product' "
                f"ORDER BY ({sql.distance('vector', space)}) + 0 LIMIT 10",
                [space.pk, literal],
            )
            exact.append({row[0] for row in cursor.fetchall()})
        for kind in ("vector", "halfvec"):
            table = f"scale_{kind}"
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
            cursor.execute(
                f"CREATE TABLE {table} AS SELECT document_id, vector::{kind}({dims}) AS vector "
                f"FROM shopsearch_embedding WHERE space_id = %s AND kind = 'product'",
                [space.pk],
            )
            started = time.perf_counter()
            cursor.execute(f"CREATE INDEX {table}_hnsw ON {table} USING hnsw (vector {kind}_cosine_ops) {options}")
            build = time.perf_counter() - started
            cursor.execute(f"ANALYZE {table}")
            found, latencies = [], []
            for literal, truth in zip(vectors, exact, strict=True):
                with transaction.atomic():
                    sql.scan_settings(cursor)
                    started = time.perf_counter()
                    cursor.execute(
                        f"SELECT document_id FROM {table} ORDER BY vector <=> %s::{kind}({dims}) LIMIT 10", [literal]
                    )
                    got = {row[0] for row in cursor.fetchall()}
                    latencies.append((time.perf_counter() - started) * 1000)
                found.append(len(got & truth) / max(1, len(truth)))
            cursor.execute(f"SELECT pg_table_size('{table}'), pg_relation_size('{table}_hnsw')")
            table_bytes, index_bytes = cursor.fetchone()
            out[kind] = {
                "hnsw_build_seconds": round(build, 1),
                "table_bytes": table_bytes,
                "hnsw_index_bytes": index_bytes,
                "recall_at_10_vs_exact_vector": round(sum(found) / len(found), 4),
                "p50_ms": round(percentile(latencies, 0.5), 2),
                "p95_ms": round(percentile(latencies, 0.95), 2),
            }
    out["queries"] = len(vectors)
    out["halfvec_over_vector_bytes"] = round(
        (out["halfvec"]["table_bytes"] + out["halfvec"]["hnsw_index_bytes"])
        / (out["vector"]["table_bytes"] + out["vector"]["hnsw_index_bytes"]),
        3,
    )
    return out


def run_level(
    port: int, query_texts: list[str], mode: str, filtered: bool, concurrency: int, requests: int, time_limit: float
) -> dict:
    """load.run_level with this benchmark's queries and, with `filtered`, its rotating filters."""
    level = load.run_level(
        port,
        mode,
        concurrency,
        requests,
        time_limit,
        params=lambda n, worker: {
            "q": query_texts[n % len(query_texts)],
            "mode": mode,
            "page_size": 20,
            **(rotating_filters(n) if filtered else {}),
        },
    )
    return {
        "mode": mode,
        "filters": filtered,
        **{
            key: level[key]
            for key in ("concurrency", "ok", "errors", "p50_ms", "p95_ms", "p99_ms", "throughput_rps", "wall_s")
        },
    }


def search_load(database: str, query_texts: list[str], args, work: Path) -> dict:
    port = load.free_port()
    process = load.start_server(database, port, work / "gunicorn.log")
    try:
        load.wait_until_serving(port, process)
        warm_up = load.warm(port)
        levels = [
            run_level(port, query_texts, mode, filtered, concurrency, args.requests, args.time_limit)
            for mode in ("keyword", "semantic", "hybrid")
            for filtered in (False, True)
            for concurrency in args.concurrency
        ]
    finally:
        process.terminate()
        process.wait(timeout=60)
    workers = int(os.environ.get("GUNICORN_WORKERS") or max(2, os.cpu_count() or 1))
    return {
        "server": {"gunicorn": "gthread", "workers": workers, "threads": int(os.environ.get("GUNICORN_THREADS") or 4)},
        "warm_up_slowest_ms": warm_up,
        "requests_per_level": args.requests,
        "time_limit_s": args.time_limit,
        "levels": levels,
    }


def fresh_database(database: str) -> None:
    import psycopg
    from psycopg import sql

    from shopsite import embedded_db

    admin = embedded_db.database_url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def measure_size(size: int, database: str, args) -> dict:
    """Everything for one catalogue size, in a fresh database (this process is set up against it)."""
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    before = machine()
    fresh_database(database)
    work = Path(tempfile.mkdtemp(prefix=f"scale-{size}-"))
    rows = catalogue(size)
    products = work / "products.jsonl.gz"
    with gzip.open(products, "wt", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    migrate_s = manage(database, "migrate", "-v0")
    import_s = manage(database, "import_catalog", "--products", str(products))
    setup_django(database)
    from django.db import connection

    from shopsearch import spaces

    sample = rows[: args.bare_sample]
    texts = sample_texts(sample)
    bare_before = bare_rates(texts)
    connection.close()
    indexing_runs = [indexing_run(database, processes, work) for processes in args.worker_processes[:1]]
    space = spaces.active_space()
    for processes in args.worker_processes[1:]:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM shopsearch_embedding WHERE space_id = %s AND kind = 'product'", [space.pk])
        connection.close()
        indexing_runs.append(indexing_run(database, processes, work))
    for run in indexing_runs:
        run["products_per_s"] = round(size / run["seconds"], 1)
        run["products_per_s_per_core"] = round(size / run["seconds"] / (os.cpu_count() or 1), 2)
        # what `docker compose up --scale worker=N` multiplies, where each worker has cores of its own
        run["steady_products_per_s_per_process"] = round(run["steady_products_per_s"] / run["worker_processes"], 1)
    profile = None if args.indexing_only else pipeline_profile(space, first_products(len(sample)))
    bare_after = bare_rates(texts)
    bare = {
        "texts": len(texts),
        "before_indexing": bare_before,
        "after_indexing": bare_after,
        **{
            key: round((bare_before[key] + bare_after[key]) / 2, 1)
            for key in ("products_per_s_2_threads", "products_per_s_1_thread")
        },
    }
    for run in indexing_runs:
        reference = (
            bare["products_per_s_2_threads"]
            if run["worker_processes"] == 1
            else bare["products_per_s_1_thread"] * run["worker_processes"]
        )
        run["vs_bare_model"] = round(run["products_per_s"] / reference, 3)
        run["steady_vs_bare_model"] = round(run["steady_products_per_s"] / reference, 3)
    if args.indexing_only:
        return {
            "size": size,
            "machine_before": before,
            "indexing": indexing_runs,
            "bare_model": bare,
            "machine_after": machine(),
        }
    storage = sizes_and_build(space)
    storage["bytes_per_product"] = round(
        sum(storage[k] for k in storage if k.endswith("_bytes") and k.startswith(("document", "embedding"))) / size
    )
    query_texts = queries()[: args.queries]
    vector_recall = recall(space, query_texts)
    storage_types = halfvec_versus_vector(space, query_texts)
    connection.close()
    served = search_load(database, query_texts, args, work)
    return {
        "size": size,
        "database": database,
        "machine_before": before,
        "timings_s": {"migrate": round(migrate_s, 1), "import_catalog": round(import_s, 1)},
        "indexing": indexing_runs,
        "bare_model": bare,
        "pipeline_profile": profile,
        "storage": storage,
        "filtered_vector_recall": vector_recall,
        "halfvec_versus_vector": storage_types,
        "search": served,
        "machine_after": machine(),
    }


def growth(results: list[dict]) -> dict:
    """Each cost at every larger size divided by the smallest size's."""
    base = results[0]

    def figures(result: dict) -> dict:
        out = {
            "hnsw_build_seconds": result["storage"]["hnsw_build_seconds"],
            "database_bytes": result["storage"]["database_bytes"],
            "hnsw_product_index_bytes": result["storage"]["hnsw_product_index_bytes"],
            "indexing_seconds_1_process": result["indexing"][0]["seconds"],
        }
        for level in result["search"]["levels"]:
            if level["concurrency"] == 1:
                key = f"{level['mode']}{'_filtered' if level['filters'] else ''}_c1"
                out[f"{key}_p50_ms"], out[f"{key}_p95_ms"] = level["p50_ms"], level["p95_ms"]
        return out

    start = figures(base)
    return {
        str(result["size"]): {
            key: round(value / start[key], 2) if start.get(key) else None for key, value in figures(result).items()
        }
        for result in results[1:]
    } | {"from_size": base["size"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="hFscale", help="prefix of the databases (one per size, recreated)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000])
    parser.add_argument(
        "--smoke", action="store_true", help=f"one size of {SMOKE_SIZE}, few requests, 1 worker process"
    )
    parser.add_argument("--requests", type=int, default=100, help="requests per mode, filter setting and concurrency")
    parser.add_argument("--time-limit", type=float, default=15.0, help="seconds per level at most")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--worker-processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--bare-sample", type=int, default=1000, help="texts the bare model encodes (from the same catalogue)"
    )
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument(
        "--indexing-only", action="store_true", help="import, the bare model and the worker runs; no search figures"
    )
    parser.add_argument(
        "--size", type=int, help=argparse.SUPPRESS
    )  # one size, in this process (the parent runs each so)
    parser.add_argument(
        "--halfvec-only",
        type=int,
        metavar="SIZE",
        help="only the halfvec/vector comparison, on the database an earlier run left for SIZE",
    )
    parser.add_argument(
        "--profile-only",
        type=int,
        metavar="SIZE",
        help="only the in-process pipeline profile and the bare model (--bare-sample products) on SIZE's database",
    )
    args = parser.parse_args()
    if args.profile_only:
        os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
        setup_django(f"{args.database}_{args.profile_only}")
        from shopsearch import spaces

        space = spaces.ensure_active_space()
        report = profile_with_bare(space, catalogue(args.profile_only)[: args.bare_sample])
        report |= {"machine": machine()}
        print(json.dumps({"benchmark": "scale.profile", "size": args.profile_only, **report}, indent=2))
        return
    if args.halfvec_only:
        os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
        setup_django(f"{args.database}_{args.halfvec_only}")
        from shopsearch import spaces

        report = {
            "machine_before": machine(),
            **halfvec_versus_vector(spaces.active_space(), queries()[: args.queries]),
            "machine_after": machine(),
        }
        print(json.dumps({"benchmark": "scale.halfvec", "size": args.halfvec_only, **report}, indent=2))
        return
    if args.smoke:
        args.sizes, args.requests, args.time_limit, args.concurrency = [SMOKE_SIZE], 10, 5.0, [1, 4]
        args.worker_processes, args.bare_sample, args.queries = [1], 100, 12
    if args.size:
        print(json.dumps(measure_size(args.size, f"{args.database}_{args.size}", args)))
        return
    results = []
    for size in args.sizes:
        command = [
            sys.executable,
            __file__,
            "--size",
            str(size),
            "--database",
            args.database,
            "--requests",
            str(args.requests),
            "--time-limit",
            str(args.time_limit),
            "--concurrency",
            *map(str, args.concurrency),
            "--worker-processes",
            *map(str, args.worker_processes),
            "--bare-sample",
            str(args.bare_sample),
            "--queries",
            str(args.queries),
            *(["--indexing-only"] if args.indexing_only else []),
        ]
        env = {**os.environ, "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50)}
        out = subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    report = {"benchmark": "scale", "smoke": args.smoke, "results": results}
    if len(results) > 1:
        report["growth"] = growth(results)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
