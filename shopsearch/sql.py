"""The SQL pieces vector retrieval needs where the ORM cannot say it, written once.

Vectors are stored without fixed dimensions (spaces differ), and each space's partial HNSW index is built on
`vector::vector(<dims>)` (spaces.create_space_indexes), so a query uses the index only when its distance expression
repeats that cast exactly: `distance` writes it. Vectors cross the connection in pgvector's own formats (its
`Vector` class: text out, binary back), and `scan_settings` / `scan_exactly` decide how pgvector searches.
The statements themselves stay beside their features (search.py, recommend.py, review_insights.py).
"""

from __future__ import annotations

import numpy as np
from pgvector import Vector

from .conf import setting
from .models import Document
from .routers import read_connection as connection  # the replica inside routers.replica_reads()


def distance(column: str, dimensions: int, other: str = "%s") -> str:
    """Cosine distance between `column` and `other` (a query parameter by default) in the form the HNSW indexes use."""
    dims = int(dimensions)
    return f"{column}::vector({dims}) <=> {other}::vector({dims})"


def vector_param(vector: np.ndarray) -> str:
    """A query vector as a parameter, in pgvector's text form (`%s::vector(<dims>)` in the statement reads it)."""
    return Vector(np.asarray(vector, dtype=np.float32)).to_text()


def from_binary(data: bytes) -> np.ndarray:
    """A stored vector read in pgvector's binary form (`vector_send`): about 100x faster to parse than its text form,
    which made diversity's candidate vectors its slowest step."""
    return Vector.from_binary(data).to_numpy()


def scan_settings(cursor, ef_search: int = 0) -> None:
    """HNSW settings for the rest of the transaction, in one round trip: iterative scans keep going until filtered
    results fill the limit, in strict distance order; the candidate list is at least HNSW_EF_SEARCH long."""
    cursor.execute(
        "SELECT set_config('hnsw.iterative_scan', 'strict_order', true), set_config('hnsw.ef_search', %s, true)",
        [str(max(int(setting("HNSW_EF_SEARCH")), ef_search, 1))],
    )


def scan_exactly(where: str, params: list, kind: str = "product") -> bool:
    """Whether at most EXACT_SEARCH_MAX_ROWS documents of `kind` pass `where` (written on the document alias `d`):
    an exact scan over so few is cheap and misses nothing, filtered or not, where HNSW may miss rows: among the demo
    catalogue's near-identical items a graph search for a distinctive title put its product first 12 times in 30
    (exact: 28), for edited and newly created products alike (benchmarks/hnsw_recall.py). It counts documents, with
    a vector or not: an upper bound of the vectors that needs no join (5x cheaper), and counting stops at the
    limit + 1, so a loose filter costs no more than a selective one."""
    limit = int(setting("EXACT_SEARCH_MAX_ROWS"))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {Document._meta.db_table} d WHERE d.kind = %s{where} LIMIT %s) "
            f"matching",
            [kind, *params, limit + 1],
        )
        return cursor.fetchone()[0] <= limit


def ordered_by_distance(distance_sql: str, exact: bool) -> str:
    """The ORDER BY for a nearest-vectors query: by the `distance` column (the HNSW index serves it), or, for an exact
    scan, by an expression the index cannot serve, so the planner sorts every qualifying row."""
    return f"({distance_sql}) + 0" if exact else "distance"
