"""Product retrieval: semantic search and similar products over the active space's HNSW index, with filters.

All SQL of retrieval lives here. Filters go inside the vector query and pgvector's iterative index scan
(`hnsw.iterative_scan = strict_order`) keeps scanning until the page is full, so a selective filter still returns
a full page; strict order keeps page 2 the continuation of page 1. The per-space HNSW indexes are partial
(space id, kind) and built on `vector::vector(<dims>)`; the queries below repeat that expression with literal values so the planner can use them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Sequence

import numpy as np
from django.db import connection, transaction

from . import encoders
from .conf import setting
from .models import Document, Embedding, EmbeddingSpace


class NotReady(Exception):
    """Search cannot answer yet: no active space, or the object has no vector yet (still being indexed)."""


@dataclass(frozen=True)
class Filters:
    category: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    in_stock: bool | None = None


@dataclass
class Hit:
    id: str
    title: str
    category: str | None
    price: Decimal | None
    in_stock: bool
    score: float  # cosine similarity to the query, in [-1, 1]


@dataclass
class SearchPage:
    hits: list[Hit]
    page: int
    page_size: int
    has_next: bool
    space: EmbeddingSpace | None = field(default=None, repr=False)


def filter_sql(filters: Filters, alias: str = "d") -> tuple[str, list]:
    """SQL conditions (ANDed, with a leading AND) and their parameters for `filters` on documents `alias`."""
    clauses, params = [], []
    if filters.category is not None:
        clauses.append(f"{alias}.category = %s")
        params.append(filters.category)
    if filters.min_price is not None:
        clauses.append(f"{alias}.price >= %s")
        params.append(filters.min_price)
    if filters.max_price is not None:
        clauses.append(f"{alias}.price <= %s")
        params.append(filters.max_price)
    if filters.in_stock is not None:
        clauses.append(f"{alias}.in_stock = %s")
        params.append(filters.in_stock)
    return "".join(f" AND {clause}" for clause in clauses), params


def categories() -> list[str]:
    """Every category some indexed product has (for validating the `category` filter)."""
    return list(
        Document.objects.filter(kind="product", category__isnull=False).values_list("category", flat=True).distinct().order_by("category")
    )


def require_active_space() -> EmbeddingSpace:
    space = EmbeddingSpace.objects.filter(is_active=True).first()
    if space is None:
        raise NotReady("The search index is empty: run `python manage.py reindex` first.")
    return space


def encode_query(space: EmbeddingSpace, query: str) -> np.ndarray:
    """The query's vector in `space` (only ever with the model that made the space's vectors)."""
    return encoders.get_encoder(space.model_name).encode([query])[0]


def nearest_products(
    space: EmbeddingSpace,
    vector: np.ndarray,
    filters: Filters,
    limit: int,
    exclude_ids: Sequence[str] = (),
    exclude_hash: str | None = None,
) -> list[tuple[int, float]]:
    """(document id, cosine distance) of the `limit` products nearest to `vector` in `space` that pass `filters`."""
    dims = int(space.dimensions)
    where, params = filter_sql(filters)
    if exclude_ids:
        where += " AND d.object_id <> ALL(%s)"
        params.append(list(exclude_ids))
    if exclude_hash:
        where += " AND d.content_hash <> %s"
        params.append(exclude_hash)
    # Few candidates left by the filters: an exact scan over them is cheap and misses nothing (HNSW may).
    exact = bool(where) and _filtered_count(space, where, params) <= setting("EXACT_SEARCH_MAX_ROWS")
    distance = f"e.vector::vector({dims}) <=> %s::vector({dims})"
    sql = f"""
        SELECT e.document_id, {distance} AS distance
        FROM shopsearch_embedding e JOIN shopsearch_document d ON d.id = e.document_id
        WHERE e.space_id = {int(space.pk)} AND e.kind = 'product'{where}
        ORDER BY {f'({distance}) + 0' if exact else 'distance'} LIMIT %s"""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL hnsw.iterative_scan = strict_order")
        cursor.execute(f"SET LOCAL hnsw.ef_search = {max(int(setting('HNSW_EF_SEARCH')), 1)}")
        literal = _vector_literal(vector)
        cursor.execute(sql, [literal, *params, *([literal] if exact else []), limit])
        return [(doc_id, float(dist)) for doc_id, dist in cursor.fetchall()]


def _filtered_count(space: EmbeddingSpace, where: str, params: list) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM shopsearch_embedding e JOIN shopsearch_document d ON d.id = e.document_id "
            f"WHERE e.space_id = {int(space.pk)} AND e.kind = 'product'{where}",
            params,
        )
        return cursor.fetchone()[0]


def _vector_literal(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


def _hits(ranked: list[tuple[int, float]]) -> list[Hit]:
    docs = Document.objects.in_bulk([doc_id for doc_id, _ in ranked])
    return [
        Hit(id=doc.object_id, title=doc.title, category=doc.category, price=doc.price, in_stock=doc.in_stock, score=1.0 - distance)
        for doc_id, distance in ranked
        if (doc := docs.get(doc_id)) is not None
    ]


def semantic_search(query: str, filters: Filters = Filters(), page: int = 1, page_size: int | None = None) -> SearchPage:
    """Products nearest in meaning to `query`, best first, one page of them."""
    page_size = page_size or setting("PAGE_SIZE")
    space = require_active_space()
    offset = (page - 1) * page_size
    ranked = nearest_products(space, encode_query(space, query), filters, limit=offset + page_size + 1)
    return SearchPage(
        hits=_hits(ranked[offset : offset + page_size]), page=page, page_size=page_size, has_next=len(ranked) > offset + page_size, space=space
    )


def product_vector(space: EmbeddingSpace, object_id: str) -> tuple[Document, np.ndarray]:
    """A product's document and its vector in `space`. Document.DoesNotExist if unknown; NotReady if not embedded yet."""
    document = Document.objects.get(kind="product", object_id=str(object_id))
    embedding = Embedding.objects.filter(space=space, document=document).only("vector").first()
    if embedding is None:
        raise NotReady(f"Product {object_id} is still being indexed; try again in a moment.")
    return document, np.asarray(embedding.vector, dtype=np.float32)


def similar_products(object_id: str, filters: Filters = Filters(), limit: int | None = None) -> list[Hit]:
    """Products nearest to this one, never itself nor exact duplicates of its text."""
    space = require_active_space()
    document, vector = product_vector(space, object_id)
    ranked = nearest_products(
        space, vector, filters, limit=limit or setting("PAGE_SIZE"), exclude_ids=[document.object_id], exclude_hash=document.content_hash
    )
    return _hits(ranked)
