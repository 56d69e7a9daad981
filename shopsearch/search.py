"""Product retrieval: keyword, semantic and hybrid search, their fusion, filters, facets, highlights and explain.

All SQL of retrieval lives here. Keyword search matches the generated, weighted `search_vector` (title A,
description B, attributes C; english stemming, unaccented) with an OR of the query's lexemes, so a product matching
some of the words is still a candidate and ranks by how well it matches; a trigram match on the title catches typos
("nightstnd"). Semantic search is the nearest vectors in an embedding space. Hybrid fuses the two ranked lists in
`fuse`, the one place that decides how. Every query is scoped to one collection of documents (the shop's, or an
evaluation set's) and passes the same filters (`filter_sql`) in every retriever.

Vector filters go inside the vector query and pgvector's iterative index scan (`hnsw.iterative_scan =
strict_order`) keeps scanning until the page is full, so a selective filter still returns a full page; strict order
keeps page 2 the continuation of page 1. The per-space HNSW indexes are partial (space id, kind) and built on
`vector::vector(<dims>)`; the queries below repeat that expression with literal values so the planner can use them.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, Sequence

import numpy as np
from django.db import connection, transaction

from . import encoders
from .conf import setting
from .models import SHOP_COLLECTION, Document, Embedding, EmbeddingSpace

Mode = Literal["keyword", "semantic", "hybrid"]
MODES: tuple[Mode, ...] = ("keyword", "semantic", "hybrid")

# The query as an OR of its unaccented, stemmed lexemes (NULL when only stop words or punctuation remain).
OR_TSQUERY = (
    "(SELECT string_agg(quote_literal(lexeme), ' | ')::tsquery "
    "FROM unnest(to_tsvector('english', shopsearch_unaccent(%s))))"
)


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
    score: float  # semantic: cosine similarity; keyword: text rank; hybrid: fused score. Higher is better.
    highlights: dict[str, str] | None = None  # title / description, HTML-escaped, matched terms in <mark>
    explain: dict | None = None  # keyword rank/score, vector rank/distance, fused score


@dataclass
class SearchPage:
    hits: list[Hit]
    page: int
    page_size: int
    has_next: bool
    space: EmbeddingSpace | None = field(default=None, repr=False)
    facets: dict | None = None


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
        Document.objects.filter(collection=SHOP_COLLECTION, kind="product", category__isnull=False).values_list("category", flat=True).distinct().order_by("category")
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
    collection: str = SHOP_COLLECTION,
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
    where, params = " AND d.collection = %s" + where, [collection, *params]
    # Few candidates left by the filters: an exact scan over them is cheap and misses nothing (HNSW may).
    exact = filters != Filters() and _filtered_count(space, where, params) <= setting("EXACT_SEARCH_MAX_ROWS")
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


def keyword_products(query: str, filters: Filters, limit: int, collection: str = SHOP_COLLECTION) -> list[tuple[int, float]]:
    """(document id, keyword score) of the `limit` best text matches for `query` that pass `filters`, best first.

    Candidates match any of the query's lexemes, or have a title trigram-similar to the query (typos). The score is
    the cover-density rank of the lexemes plus a share of the title's trigram word similarity to the query.
    """
    where, params = filter_sql(filters)
    sql = f"""
        WITH q AS (SELECT {OR_TSQUERY} AS tsq, shopsearch_unaccent(%s) AS raw)
        SELECT d.id, coalesce(ts_rank_cd(d.search_vector, q.tsq, %s), 0)
                     + %s * word_similarity(q.raw, shopsearch_unaccent(d.title)) AS score
        FROM shopsearch_document d, q
        WHERE d.collection = %s AND d.kind = 'product'
          AND (d.search_vector @@ q.tsq OR q.raw <%% shopsearch_unaccent(d.title)){where}
        ORDER BY score DESC, d.id LIMIT %s"""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('pg_trgm.word_similarity_threshold', %s, true)", [str(setting("TRIGRAM_THRESHOLD"))])
        cursor.execute(sql, [query, query, setting("KEYWORD_RANK_NORMALIZATION"), setting("TRIGRAM_WEIGHT"), collection, *params, limit])
        return [(doc_id, float(score)) for doc_id, score in cursor.fetchall()]


def fuse(keyword: list[tuple[int, float]], vector: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """One ranked list from the keyword and vector lists: weighted reciprocal rank fusion, best first.

    score = KEYWORD_WEIGHT / (RRF_K + keyword rank) + VECTOR_WEIGHT / (RRF_K + vector rank), ranks from 1; a product
    missing from a list gets nothing from it. Ranks, unlike raw scores, are comparable across the two retrievers.
    """
    k = float(setting("RRF_K"))
    scores: dict[int, float] = {}
    for weight, ranked in ((float(setting("KEYWORD_WEIGHT")), keyword), (float(setting("VECTOR_WEIGHT")), vector)):
        for rank, (doc_id, _) in enumerate(ranked, 1):
            scores[doc_id] = scores.get(doc_id, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def search_products(
    query: str,
    mode: Mode = "hybrid",
    filters: Filters = Filters(),
    page: int = 1,
    page_size: int | None = None,
    *,
    explain: bool = False,
    highlight: bool = True,
    facets: bool = True,
    space: EmbeddingSpace | None = None,
    collection: str = SHOP_COLLECTION,
) -> SearchPage:
    """One page of products for `query`, best first: by keywords, by meaning, or both fused (the API's search).

    Each retriever returns at least `CANDIDATES` products so fusion and facets see more than one page.
    """
    page_size = page_size or setting("PAGE_SIZE")
    offset = (page - 1) * page_size
    depth = max(offset + page_size + 1, int(setting("CANDIDATES")))
    keyword: list[tuple[int, float]] = []
    vector: list[tuple[int, float]] = []
    if mode in ("keyword", "hybrid"):
        keyword = keyword_products(query, filters, depth, collection)
    if mode in ("semantic", "hybrid"):
        space = space or require_active_space()
        vector = nearest_products(space, encode_query(space, query), filters, depth, collection=collection)
    if mode == "hybrid":
        ranked = fuse(keyword, vector)
    elif mode == "keyword":
        ranked = keyword
    else:
        ranked = [(doc_id, 1.0 - distance) for doc_id, distance in vector]
    window = ranked[offset : offset + page_size]
    hits = _hits(window)
    if highlight and hits:
        marked = highlights(query, [doc_id for doc_id, _ in window])
        for hit, (doc_id, _) in zip(hits, window):
            hit.highlights = marked.get(doc_id)
    if explain:
        keyword_at = {doc_id: (rank, score) for rank, (doc_id, score) in enumerate(keyword, 1)}
        vector_at = {doc_id: (rank, distance) for rank, (doc_id, distance) in enumerate(vector, 1)}
        for hit, (doc_id, score) in zip(hits, window):
            kw, vec = keyword_at.get(doc_id, (None, None)), vector_at.get(doc_id, (None, None))
            hit.explain = {"keyword_rank": kw[0], "keyword_score": kw[1], "vector_rank": vec[0], "vector_distance": vec[1],
                           "fused_score": score if mode == "hybrid" else None}
    return SearchPage(
        hits=hits, page=page, page_size=page_size, has_next=len(ranked) > offset + page_size, space=space,
        facets=facet_counts([doc_id for doc_id, _ in ranked]) if facets else None,
    )


def _hits(ranked: list[tuple[int, float]]) -> list[Hit]:
    """Hits for (document id, score) pairs, in that order."""
    docs = Document.objects.only("object_id", "title", "category", "price", "in_stock").in_bulk([doc_id for doc_id, _ in ranked])
    return [
        Hit(id=doc.object_id, title=doc.title, category=doc.category, price=doc.price, in_stock=doc.in_stock, score=score)
        for doc_id, score in ranked
        if (doc := docs.get(doc_id)) is not None
    ]


_MARK_START, _MARK_STOP = "\x02", "\x03"  # ts_headline marks matches with these; escaping then turns them into <mark>


def highlights(query: str, doc_ids: Sequence[int]) -> dict[int, dict[str, str]]:
    """Title and a description snippet per document, HTML-escaped, with the query's matched terms in <mark>."""
    options = f"StartSel={_MARK_START}, StopSel={_MARK_STOP}"
    sql = f"""
        WITH q AS (SELECT coalesce({OR_TSQUERY}, ''::tsquery) AS tsq)
        SELECT d.id, ts_headline('english', d.title, q.tsq, %s), ts_headline('english', d.description, q.tsq, %s)
        FROM shopsearch_document d, q WHERE d.id = ANY(%s)"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [query, f"HighlightAll=true, {options}", f"MaxFragments=2, MinWords=8, MaxWords=25, {options}", list(doc_ids)])
        return {doc_id: {"title": _marked(title), "description": _marked(description)} for doc_id, title, description in cursor.fetchall()}


def _marked(text: str) -> str:
    return html.escape(text).replace(_MARK_START, "<mark>").replace(_MARK_STOP, "</mark>")


def facet_counts(doc_ids: Sequence[int]) -> dict:
    """Counts of the retrieved products (the query's candidates after filters) by category, price bucket and stock."""
    edges = [Decimal(str(edge)) for edge in setting("PRICE_BUCKETS")]
    sql = """
        SELECT GROUPING(category, width_bucket(price, %s::numeric[]), in_stock), category,
               width_bucket(price, %s::numeric[]), in_stock, count(*)
        FROM shopsearch_document WHERE id = ANY(%s)
        GROUP BY GROUPING SETS ((category), (width_bucket(price, %s::numeric[])), (in_stock))"""
    facets: dict = {"categories": [], "price": [], "in_stock": []}
    with connection.cursor() as cursor:
        cursor.execute(sql, [edges, edges, list(doc_ids), edges])
        rows = cursor.fetchall()
    for grouping, category, bucket, in_stock, count in rows:
        if grouping == 0b011 and category is not None:
            facets["categories"].append({"value": category, "count": count})
        elif grouping == 0b101 and bucket is not None:
            low = edges[bucket - 1] if bucket > 0 else None
            high = edges[bucket] if bucket < len(edges) else None
            facets["price"].append({"min": low, "max": high, "count": count})
        elif grouping == 0b110:
            facets["in_stock"].append({"value": in_stock, "count": count})
    facets["categories"].sort(key=lambda row: (-row["count"], row["value"]))
    facets["price"].sort(key=lambda row: row["min"] if row["min"] is not None else Decimal("-1"))
    facets["in_stock"].sort(key=lambda row: not row["value"])
    return facets


def product_vector(space: EmbeddingSpace, object_id: str) -> tuple[Document, np.ndarray]:
    """A product's document and its vector in `space`. Document.DoesNotExist if unknown; NotReady if not embedded yet."""
    document = Document.objects.get(collection=SHOP_COLLECTION, kind="product", object_id=str(object_id))
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
