"""The SQL pieces vector retrieval needs where the ORM cannot say it, written once.

Vectors are stored without fixed dimensions (spaces differ), and each space's partial HNSW index is built on
`vector::<type>(<dims>)`, its type the space's `vector_type` (`vector`, or `halfvec`: half the bytes per index entry),
so a query uses the index only when its distance expression repeats that cast exactly: `indexed` writes the cast
(spaces.create_space_indexes builds on it) and `distance` the comparison. Vectors cross the connection in pgvector's
own formats (its `Vector` class: text out, binary back), and `scan_settings` / `scan_exactly` decide how pgvector
searches.
The statements themselves stay beside their features (search.py, recommend.py, review_insights.py); `run_batch`
sends several of them in one round trip.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from django.db import transaction
from pgvector import Vector

from .conf import setting
from .models import Document, EmbeddingSpace
from .routers import read_connection as connection  # the replica inside routers.replica_reads()


def indexed(column: str, space: EmbeddingSpace) -> str:
    """`column` cast to the space's vector type and dimensions: the expression its HNSW indexes are built on. The
    stored vector is always single precision; a halfvec space compares (and indexes) it at half precision."""
    return f"{column}::{space.vector_type}({int(space.dimensions)})"


def cosine_ops(space: EmbeddingSpace) -> str:
    """The HNSW operator class for cosine distance over the space's vector type."""
    return f"{space.vector_type}_cosine_ops"


def distance(column: str, space: EmbeddingSpace, other: str = "%s") -> str:
    """Cosine distance between `column` and `other` (a query parameter by default) in the form the space's HNSW
    indexes use: both sides in the space's vector type, so vectors of different types are never compared."""
    return f"{indexed(column, space)} <=> {indexed(other, space)}"


def vector_param(vector: np.ndarray) -> str:
    """A query vector as a parameter, in pgvector's text form (`indexed("%s", space)` in the statement reads it)."""
    return Vector(np.asarray(vector, dtype=np.float32)).to_text()


def from_binary(data: bytes) -> np.ndarray:
    """A stored vector read in pgvector's binary form (`vector_send`): about 100x faster to parse than its text form,
    which made diversity's candidate vectors its slowest step."""
    return Vector.from_binary(data).to_numpy()


def scan_settings_sql(ef_search: int = 0) -> tuple[str, list]:
    """The statement that sets HNSW's settings for the rest of the transaction: iterative scans keep going until
    filtered results fill the limit, in strict distance order; the candidate list is at least HNSW_EF_SEARCH long.

    It also turns parallel workers off: `nearest_sql`'s exact branch is planned (and its workers started) even where
    its one-time filter leaves it unused, and starting two workers cost 7-14 ms of the 21 ms a review search took on
    the demo (22,641 reviews, EXPLAIN ANALYZE); an exact scan of at most EXACT_SEARCH_MAX_ROWS rows gains nothing
    from them either."""
    return (
        "SELECT set_config('hnsw.iterative_scan', 'strict_order', true), set_config('hnsw.ef_search', %s, true), "
        "set_config('max_parallel_workers_per_gather', '0', true)",
        [str(max(int(setting("HNSW_EF_SEARCH")), ef_search, 1))],
    )


def scan_settings(cursor, ef_search: int = 0) -> None:
    """HNSW settings for the rest of the transaction (`scan_settings_sql`), in one round trip."""
    cursor.execute(*scan_settings_sql(ef_search))


def run_batch(cursor, statements: Sequence[tuple[str, Sequence]]) -> list[list[tuple]]:
    """Run `statements` (SQL, parameters) in ONE round trip, in one transaction, and return each one's rows.

    Under load every round trip waits for the database process to be scheduled (a `SELECT 1` took 0.08 ms median
    but 4.8 ms p95 at load 6 on two cores), so a search sends its statements together rather than one by one.
    Django's psycopg cursors bind parameters on the client, which sends the statements as one simple query: they
    run in one transaction, so a `set_config(..., true)` in one holds for those after it and ends with them. With
    `server_side_binding` on, statements cannot share a query: each is sent on its own, inside one transaction."""
    if not statements:
        return []
    if cursor.db.settings_dict.get("OPTIONS", {}).get("server_side_binding"):
        results = []
        with transaction.atomic(using=cursor.db.alias):
            for statement, params in statements:
                cursor.execute(statement, params)
                results.append(cursor.fetchall())
        return results
    cursor.execute("; ".join(statement for statement, _ in statements), [p for _, params in statements for p in params])
    results = [cursor.fetchall()]
    while cursor.nextset():
        results.append(cursor.fetchall())
    return results


def exact_condition(where: str, params: list, kind: str = "product") -> tuple[str, list]:
    """SQL that is true where at most EXACT_SEARCH_MAX_ROWS documents of `kind` pass `where` (written on the
    document alias `d`), and its parameters; `scan_exactly` says why. A nearest-vectors statement can carry it as
    the condition of its exact branch (`nearest_sql`), so the decision costs no round trip of its own."""
    limit = int(setting("EXACT_SEARCH_MAX_ROWS"))
    return (
        f"(SELECT count(*) <= %s FROM (SELECT 1 FROM {Document._meta.db_table} d WHERE d.kind = %s{where} LIMIT %s) "
        f"matching)",
        [limit, kind, *params, limit + 1],
    )


def scan_exactly(where: str, params: list, kind: str = "product") -> bool:
    """Whether at most EXACT_SEARCH_MAX_ROWS documents of `kind` pass `where` (written on the document alias `d`):
    an exact scan over so few is cheap and misses nothing, filtered or not, where HNSW may miss rows: among the demo
    catalogue's near-identical items a graph search for a distinctive title put its product first 12 times in 30
    (exact: 28), for edited and newly created products alike (benchmarks/hnsw_recall.py). It counts documents, with
    a vector or not: an upper bound of the vectors that needs no join (5x cheaper), and counting stops at the
    limit + 1, so a loose filter costs no more than a selective one."""
    condition, values = exact_condition(where, params, kind)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {condition}", values)
        return cursor.fetchone()[0]


def nearest_sql(
    columns: str, kind: str, space: EmbeddingSpace, where: str, params: list, vector: np.ndarray, limit: int
) -> tuple[str, list]:
    """The `limit` embeddings of `kind` in a space nearest to `vector` whose documents (alias `d`) pass `where`: one
    statement whose two branches are an exact scan, taken where `exact_condition` holds, and the HNSW index scan,
    taken otherwise (the condition is a one-time filter: the other branch never runs). Rows are `columns` (on `e`
    and `d`, `e.document_id` among them) and `distance`, nearest first. Run it after `scan_settings_sql`."""
    cosine = distance("e.vector", space)
    literal = vector_param(vector)
    condition, condition_params = exact_condition(where, params, kind)

    def branch(gate: str, exact: bool) -> str:
        return (
            f"SELECT {columns}, {cosine} AS distance "
            f"FROM shopsearch_embedding e JOIN {Document._meta.db_table} d ON d.id = e.document_id "
            f"WHERE e.space_id = {int(space.pk)} AND e.kind = '{kind}' AND d.kind = '{kind}'{where} AND {gate} "
            f"ORDER BY {ordered_by_distance(cosine, exact)} LIMIT %s"
        )

    statement = (
        f"WITH exact AS MATERIALIZED (SELECT {condition} AS yes) "
        f"SELECT * FROM (({branch('(SELECT yes FROM exact)', True)}) "
        f"UNION ALL ({branch('NOT (SELECT yes FROM exact)', False)})) nearest ORDER BY distance, document_id"
    )
    return statement, [*condition_params, literal, *params, literal, limit, literal, *params, limit]


def ordered_by_distance(distance_sql: str, exact: bool) -> str:
    """The ORDER BY for a nearest-vectors query: by the `distance` column (the HNSW index serves it), or, for an exact
    scan, by an expression the index cannot serve, so the planner sorts every qualifying row."""
    return f"({distance_sql}) + 0" if exact else "distance"
