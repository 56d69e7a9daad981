"""Keyword retrieval's cost against the catalogue's size: search.keyword_matches at N products; prints JSON.

    .venv/bin/python benchmarks/keyword_scale.py --database hFkw --sizes 10000 30000 100000 [--queries 130]

Each size has a database of its own (`<database>_<size>`): the catalogue of benchmarks/scale.py (real product texts
from ../shared/data, then recombined rows, said how in its docstring) imported with `import_catalog` and its
documents synced (indexing.sync_documents: the weighted tsvector and title trigram indexes a shop has) and their
document frequencies counted (vocabulary.rebuild, as reindex ends); no vectors, keyword retrieval reads none. A
database that already holds the size's documents is reused (migrated first). Every crowdflower dev
query runs through keyword_matches with the depth a search asks for (CANDIDATES), once without filters and once with
the rotating filters of scale.py, after one warm-up pass; the figures are per-query latency (p50/p95/max, ms) and how
many products match any of the query's words (what the unbounded ranking had to rank), median and max.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scale  # noqa: E402  (catalogue, queries, filters, fresh databases)
from common import ROOT, machine, percentile, setup_django  # noqa: E402


def prepared(database: str, size: int) -> bool:
    """Whether `database` already holds `size` synced product documents."""
    import psycopg

    from shopsite import embedded_db

    try:
        with psycopg.connect(embedded_db.database_url(database)) as conn:
            shop = "SELECT count(*) FROM shopsearch_document WHERE collection = '' AND kind = 'product'"
            return conn.execute(shop).fetchone()[0] == size
    except psycopg.Error:
        return False


def prepare(database: str, size: int) -> dict:
    """A fresh database with the size's catalogue imported and its documents synced (child processes, as a shop)."""
    scale.fresh_database(database)
    work = Path(tempfile.mkdtemp(prefix=f"kw-{size}-"))
    products = work / "products.jsonl.gz"
    with gzip.open(products, "wt", encoding="utf-8") as handle:
        for row in scale.catalogue(size):
            handle.write(json.dumps(row) + "\n")
    timings = {
        "migrate": scale.manage(database, "migrate", "-v0"),
        "import_catalog": scale.manage(database, "import_catalog", "--products", str(products)),
    }
    started = time.perf_counter()
    sync_child(database)
    timings["sync_documents"] = time.perf_counter() - started
    return {key: round(value, 1) for key, value in timings.items()}


def sync_child(database: str) -> None:
    subprocess.run(
        [sys.executable, __file__, "--sync", database],
        cwd=ROOT,
        env=scale.child_env(database),
        check=True,
        timeout=7200,
    )


COLUMNS = (
    "collection, kind, object_id, product_id, title, description, attributes, facets, text, category, price, "
    "in_stock, rating, helpful_votes, published_at, content_hash, updated_at"
)


def derive(database: str, size: int, base: int) -> dict:
    """`size` documents in `database` quickly: the `base` size's documents copied (COPY) into a freshly migrated
    database, plus size - base recombined documents written by one SQL statement (the import and sync through
    Django take about an hour for 100k on these shared cores): document k (from 0) takes the title, category, price
    and stock of base document k mod B and the description of base document (7919 k + 1) mod B, in id order
    (B = base, 7919 prime to it), object id "sql-mix-<k>". Documents only: no shop objects behind them, which
    keyword search never reads."""
    import psycopg

    from shopsite import embedded_db

    started = time.perf_counter()
    scale.fresh_database(database)
    scale.manage(database, "migrate", "-v0")
    source = f"{database.rsplit('_', 1)[0]}_{base}"
    source_url, target_url = embedded_db.database_url(source), embedded_db.database_url(database)
    with psycopg.connect(source_url) as src, psycopg.connect(target_url) as dst:
        with src.cursor().copy(f"COPY (SELECT {COLUMNS} FROM shopsearch_document ORDER BY id) TO STDOUT") as out:
            with dst.cursor().copy(f"COPY shopsearch_document ({COLUMNS}) FROM STDIN") as into:
                for block in out:
                    into.write(block)
        dst.execute(  # numbered once, indexed: the joins below are lookups, not a nested scan per row
            "CREATE TEMP TABLE base AS SELECT row_number() OVER (ORDER BY id) - 1 AS n, title, description, category, "
            "price, in_stock FROM shopsearch_document WHERE collection = '' AND kind = 'product'"
        )
        dst.execute("CREATE UNIQUE INDEX ON base (n)")
        dst.execute("ANALYZE base")
        dst.execute(
            """
            INSERT INTO shopsearch_document (collection, kind, object_id, title, description, attributes, facets, text,
                                             category, price, in_stock, helpful_votes, content_hash, updated_at)
            SELECT '', 'product', 'sql-mix-' || k, a.title, b.description, '{}', '{}',
                   a.title || E'\\n' || b.description, a.category, a.price, a.in_stock, 0,
                   md5(a.title || E'\\n' || b.description), now()
            FROM generate_series(0, %(extra)s - 1) AS k
            JOIN base a ON a.n = k %% %(base)s JOIN base b ON b.n = (7919 * k + 1) %% %(base)s""",
            {"extra": size - base, "base": base},
        )
        dst.commit()
    sync_child(database)  # no shop objects to sync: recounts the document frequencies, then ANALYZE
    return {"derived_from": base, "seconds": round(time.perf_counter() - started, 1)}


def sync(database: str) -> None:
    """The shop's documents from its products, then their document frequencies recounted, as `reindex` ends."""
    setup_django(database)
    from shopsearch import indexing, vocabulary
    from shopsearch.models import SHOP_COLLECTION

    for ids in indexing.object_id_batches("product", 1000):
        indexing.sync_documents("product", ids)
    vocabulary.rebuild(SHOP_COLLECTION)
    indexing.analyze_tables()


def filters_of(raw: dict):
    from shopsearch import search

    return search.Filters(
        category=raw.get("category"),
        min_price=Decimal(raw["min_price"]) if "min_price" in raw else None,
        max_price=Decimal(raw["max_price"]) if "max_price" in raw else None,
        in_stock=True if "in_stock" in raw else None,
    )


def measure(database: str, size: int, query_texts: list[str], cap: int | None) -> dict:
    setup_django(database)
    from django.conf import settings
    from django.db import connection

    from shopsearch import search
    from shopsearch.conf import setting

    if cap is not None:
        settings.SHOPSEARCH = {**settings.SHOPSEARCH, "KEYWORD_MAX_MATCHES": cap}
    depth = int(setting("CANDIDATES"))
    with connection.cursor() as cursor:
        matched = []
        for text in query_texts:
            cursor.execute(
                "SELECT count(*) FROM shopsearch_document d "
                f"WHERE d.collection = '' AND d.kind = 'product' AND d.search_vector @@ {search.OR_TSQUERY}",
                [text],
            )
            matched.append(cursor.fetchone()[0])
    out = {
        "size": size,
        "depth": depth,
        "keyword_max_matches": setting("KEYWORD_MAX_MATCHES"),
        "matching_any_word": {"p50": percentile(matched, 0.5), "max": max(matched)},
    }
    for filtered in (False, True):
        cases = [
            (text, filters_of(scale.rotating_filters(n)) if filtered else search.Filters())
            for n, text in enumerate(query_texts)
        ]
        for text, filters in cases:  # warm-up: plans, caches
            search.keyword_matches(text, filters, depth)
        latencies = []
        for text, filters in cases:
            started = time.perf_counter()
            search.keyword_matches(text, filters, depth)
            latencies.append((time.perf_counter() - started) * 1000)
        out["filtered" if filtered else "unfiltered"] = {
            "p50_ms": round(percentile(latencies, 0.5), 1),
            "p95_ms": round(percentile(latencies, 0.95), 1),
            "max_ms": round(max(latencies), 1),
            "mean_ms": round(sum(latencies) / len(latencies), 1),
        }
    return out


def relevance(database: str, folder: str, caps: list[int | None]) -> dict:
    """Keyword nDCG@10 / Recall@100 / MRR@10 of a judged folder at each cap, as evaluate_search measures keyword mode
    (search_products, DEPTH hits per query, evaluation.MEASURES), on the folder's products in their own collection of
    this database: documents only, since keyword search reads no vector (evaluate_search would embed them all)."""
    setup_django(database)
    import ir_measures
    from django.conf import settings

    from shopsearch import evaluation, indexing, search, vocabulary
    from shopsearch.models import Document

    judged = evaluation.load_relevance_set(folder)
    if Document.objects.filter(collection=judged.collection).count() != len(judged.products):
        Document.objects.filter(collection=judged.collection).delete()
        Document.objects.bulk_create(
            [
                Document(
                    collection=judged.collection,
                    kind="product",
                    object_id=object_id,
                    **indexing._document_fields("product", doc),
                )
                for object_id, doc in judged.products
            ],
            batch_size=1000,
        )
    vocabulary.rebuild(judged.collection)  # as index_collection ends: typo vocabulary, document frequencies
    indexing.analyze_tables(("shopsearch_document", "shopsearch_word", "shopsearch_lexeme"))
    out = {"folder": folder, "queries": len(judged.queries), "products": len(judged.products)}
    shipped = settings.SHOPSEARCH
    for cap in caps:
        settings.SHOPSEARCH = {**shipped, **({"KEYWORD_MAX_MATCHES": cap} if cap is not None else {})}
        run = []
        for qid, text in judged.queries.items():
            page = search.search_products(
                text,
                mode="keyword",
                page_size=evaluation.DEPTH,
                collection=judged.collection,
                highlight=False,
                facets=False,
            )
            run.extend(
                ir_measures.ScoredDoc(qid, hit.id, float(evaluation.DEPTH - rank)) for rank, hit in enumerate(page.hits)
            )
        scores = ir_measures.calc_aggregate(list(evaluation.MEASURES.values()), judged.qrels, run)
        out[f"max_matches {settings.SHOPSEARCH['KEYWORD_MAX_MATCHES'] if cap is not None else 'shipped'}"] = {
            name: round(scores[measure], 4) for name, measure in evaluation.MEASURES.items()
        }
    settings.SHOPSEARCH = shipped
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="hFkw", help="prefix of the databases (one per size)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--queries", type=int, default=130)
    parser.add_argument(
        "--derive-from",
        type=int,
        metavar="SIZE",
        help="make missing sizes from this size's database by SQL (see derive) instead of importing",
    )
    parser.add_argument("--sync", help=argparse.SUPPRESS)  # child: sync the documents of this database
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)  # child: measure this size
    parser.add_argument(
        "--max-matches",
        type=int,
        nargs="+",
        default=[None],
        help="KEYWORD_MAX_MATCHES values to measure at each size (default: the setting's)",
    )
    parser.add_argument(
        "--relevance",
        metavar="DIR",
        help="only keyword nDCG@10 of this judged folder at each --max-matches, in the database of the first size",
    )
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    if args.relevance:
        scale.manage(f"{args.database}_{args.sizes[0]}", "migrate", "-v0")
        report = {
            "machine_before": machine(),
            **relevance(f"{args.database}_{args.sizes[0]}", args.relevance, args.max_matches),
        }
        print(json.dumps({"benchmark": "keyword_scale.relevance", **report, "machine_after": machine()}, indent=2))
        return
    if args.sync:
        sync(args.sync)
        return
    query_texts = scale.queries()[: args.queries]
    if args.measure:
        print(json.dumps(measure(f"{args.database}_{args.measure}", args.measure, query_texts, args.max_matches[0])))
        return
    results = []
    for size in args.sizes:
        database = f"{args.database}_{size}"
        if prepared(database, size):
            setup_seconds = None
            scale.manage(database, "migrate", "-v0")  # a later migration fills what it adds (0017: frequencies)
        elif args.derive_from:
            setup_seconds = derive(database, size, args.derive_from)
        else:
            setup_seconds = prepare(database, size)
        for cap in args.max_matches:
            before = machine()
            command = [
                sys.executable,
                __file__,
                "--database",
                args.database,
                "--measure",
                str(size),
                "--queries",
                str(args.queries),
                *(["--max-matches", str(cap)] if cap is not None else []),
            ]
            out = subprocess.run(
                command, cwd=ROOT, env=scale.child_env(database), check=True, stdout=subprocess.PIPE, text=True
            ).stdout
            results.append(
                {
                    **json.loads(out.strip().splitlines()[-1]),
                    "prepared_s": setup_seconds,
                    "machine_before": before,
                    "machine_after": machine(),
                }
            )
    by_cap: dict = {}
    for result in results:
        by_cap.setdefault(result["keyword_max_matches"], []).append(result)
    growth = {  # per cap: each larger size against the first
        f"max_matches {cap}: {runs[0]['size']} -> {result['size']}": {
            f"{part}_{figure}": round(result[part][figure] / runs[0][part][figure], 2)
            for part in ("unfiltered", "filtered")
            for figure in ("p50_ms", "p95_ms")
            if runs[0][part][figure]
        }
        | {"size": round(result["size"] / runs[0]["size"], 2)}
        for cap, runs in by_cap.items()
        for result in runs[1:]
    }
    print(
        json.dumps(
            {"benchmark": "keyword_scale", "queries": len(query_texts), "results": results, "growth": growth}, indent=2
        )
    )


if __name__ == "__main__":
    main()
