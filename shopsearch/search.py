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
`vector::<type>(<dims>)` (sql.indexed); the queries below repeat that expression with literal values so the planner
can use them.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

import numpy as np
from django.db import connections

from . import analytics, encoders, query_understanding, rules, spaces, sql
from .conf import setting
from .models import SHOP_COLLECTION, Document, EmbeddingSpace
from .registry import declared_facets
from .routers import read_connection as connection  # the replica inside routers.replica_reads()

logger = logging.getLogger(__name__)
Mode = Literal["keyword", "semantic", "hybrid"]
MODES: tuple[Mode, ...] = ("keyword", "semantic", "hybrid")
# Orders of a result list: relevance (the fused score), or the retrieved candidates re-ordered by price, mean rating
# or review count (ties, and products without a price or a rating, keep their relevance order; those come last).
Sort = Literal["relevance", "price_asc", "price_desc", "rating", "reviews"]
SORTS: tuple[Sort, ...] = ("relevance", "price_asc", "price_desc", "rating", "reviews")

# The query as an OR of its unaccented, stemmed lexemes (NULL when only stop words or punctuation remain), and as
# an AND of them (the products that contain every word of the query).
OR_TSQUERY = (
    "(SELECT string_agg(quote_literal(lexeme), ' | ')::tsquery "
    "FROM unnest(to_tsvector('english', shopsearch_unaccent(%s))))"
)
AND_TSQUERY = OR_TSQUERY.replace("' | '", "' & '")
# A title's own lexemes, exactly the expression of the index `shopsearch_doc_title_fts` (migration 0019), so "a query
# word in the title" is answered from that index. Asking `search_vector` for weight-A lexemes instead read every
# product with the word anywhere and rechecked each one's weights: 9 ms of a broad query at 100k (docs/scaling.md).
TITLE_LEXEMES = "to_tsvector('english'::regconfig, shopsearch_unaccent(coalesce(d.title, '')))"


@dataclass(frozen=True)
class AttributeFilter:
    """One declared attribute facet's filter (registry.Facet): any of `values` (strings or booleans: OR'd), or a
    number range (`minimum` and `maximum` inclusive, either may be open)."""

    name: str
    values: tuple[str | bool, ...] = ()
    minimum: Decimal | None = None
    maximum: Decimal | None = None

    def __str__(self) -> str:  # as the search log keeps it
        if self.values:
            return f"{self.name}={'|'.join(str(value) for value in self.values)}"
        low, high = ("" if bound is None else bound for bound in (self.minimum, self.maximum))
        return f"{self.name}={low}..{high}"


@dataclass(frozen=True)
class Filters:
    category: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    in_stock: bool | None = None
    attributes: tuple[AttributeFilter, ...] | None = None  # ANDed with each other and with the filters above
    min_rating: Decimal | None = None  # mean star rating of the product's reviews at least this (unrated products fail)


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
    rating: float | None = None  # mean star rating of the product's reviews (None: no rated reviews)
    review_count: int = 0
    review_sentence: str | None = None  # reviews=true: the sentence of the product's closest review nearest the query


@dataclass
class SearchPage:
    hits: list[Hit]
    page: int
    page_size: int
    has_next: bool
    space: EmbeddingSpace | None = field(default=None, repr=False)
    facets: dict | None = None
    total: int | None = None  # products retrieved (after filters); None when a retriever's list was cut at its depth
    relevance: float | None = None  # FUSION "adaptive", hybrid: the best hit's estimated probability of being relevant
    match: str | None = (
        None  # "good" / "weak" / "none" from `relevance` (MATCH_THRESHOLDS); "none" when nothing matched
    )
    corrected_query: str | None = None  # the query as searched, where typos were corrected (query_understanding.py)
    understood: dict | None = None  # price limits, boosted categories and the phrases taken out of the query


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
    for attribute in filters.attributes or ():
        clause, values = attribute_sql(attribute, alias)
        clauses.append(clause)
        params.extend(values)
    if filters.min_rating is not None:
        clauses.append(f"({_MEAN_RATING.format(alias=alias)}) >= %s")
        params.append(filters.min_rating)
    return "".join(f" AND {clause}" for clause in clauses), params


def attribute_sql(attribute: AttributeFilter, alias: str = "d") -> tuple[str, list]:
    """One attribute filter as SQL on documents `alias`: values as containment tests on the `facets` jsonb (its GIN
    index serves them in the keyword query; the vector scan tests each candidate row), a range as a JSON path."""
    if attribute.values:
        tests = " OR ".join(f"{alias}.facets @> %s::jsonb" for _ in attribute.values)
        return f"({tests})", [json.dumps({attribute.name: [value]}) for value in attribute.values]
    bounds = {"min": attribute.minimum, "max": attribute.maximum}
    given = [key for key, bound in bounds.items() if bound is not None]
    condition = " && ".join(f"@ {'>=' if key == 'min' else '<='} ${key}" for key in given)
    path = f"$.{json.dumps(attribute.name)}[*] ? ({condition})"
    variables = {key: float(bounds[key]) for key in given}
    return f"jsonb_path_exists({alias}.facets, %s::jsonpath, %s::jsonb)", [path, json.dumps(variables)]


def categories() -> list[str]:
    """Every category some indexed product has (for validating the `category` filter)."""
    return list(
        Document.objects.filter(collection=SHOP_COLLECTION, kind="product", category__isnull=False)
        .values_list("category", flat=True)
        .distinct()
        .order_by("category")
    )


def is_category(name: str) -> bool:
    """Whether some indexed product has this category (an index lookup: every filtered search asks)."""
    return Document.objects.filter(collection=SHOP_COLLECTION, kind="product", category=name).exists()


def has_attribute_value(name: str, value: str | bool) -> bool:
    """Whether some indexed product has this value of attribute facet `name` (the facets GIN index answers)."""
    products = Document.objects.filter(collection=SHOP_COLLECTION, kind="product")
    return products.filter(facets__contains={name: [value]}).exists()


def attribute_values(name: str) -> list[str]:
    """Every value some indexed product has of string attribute facet `name`, sorted (for an error message)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT jsonb_array_elements_text(facets -> %s) AS value FROM shopsearch_document "
            "WHERE collection = %s AND kind = 'product' AND facets ? %s ORDER BY value",
            [name, SHOP_COLLECTION, name],
        )
        return [value for (value,) in cursor.fetchall()]


def encode_query(space: EmbeddingSpace, query: str) -> np.ndarray:
    """The query's vector in `space` (only ever with the model that made the space's vectors).

    Shoppers repeat queries (paging, filters, popular searches), so recent vectors are kept per (space, query).
    """
    return _query_vector(space.pk, space.model_name, query)


def warm_up_in_background() -> threading.Thread:
    """Load the active space's model and its query runtime on a thread of their own, so that a web process's first
    search does not load them inside the request (12 to 23 s at load 9, benchmarks/endpoints.py); other requests are
    served meanwhile. shopsite/gunicorn.conf.py calls this as each web worker starts."""

    def load() -> None:
        try:
            space = spaces.active_space()
            encoders.encode_query(space.model_name if space else encoders.configured_model(), "warm up")
        except Exception:  # a web process still starts without a database or model; its first search will say why
            logger.exception("shopsearch: could not load the query encoder ahead of the first search")
        finally:
            connections.close_all()  # this thread's own connections

    thread = threading.Thread(target=load, name="shopsearch-warm-up", daemon=True)
    thread.start()
    return thread


def clear_query_cache() -> None:
    """Forget cached query vectors (so a measurement sees the cost of encoding)."""
    _query_vector.cache_clear()


_encoding_threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="shopsearch-encode")


@functools.lru_cache(maxsize=1024)
def _query_vector(space_id: int, model_name: str, query: str) -> np.ndarray:
    vector = encoders.encode_query(model_name, query)
    vector.setflags(write=False)
    return vector


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
    with connection.cursor() as cursor:
        rows = sql.run_batch(
            cursor,
            [
                sql.scan_settings_sql(),
                _nearest_products_sql(space, vector, filters, limit, exclude_ids, exclude_hash, collection),
            ],
        )[-1]
    return [(doc_id, float(dist)) for doc_id, dist in rows]


def _nearest_products_sql(
    space: EmbeddingSpace,
    vector: np.ndarray,
    filters: Filters,
    limit: int,
    exclude_ids: Sequence[str] = (),
    exclude_hash: str | None = None,
    collection: str = SHOP_COLLECTION,
) -> tuple[str, list]:
    """`nearest_products`'s statement (after sql.scan_settings_sql): rows (document id, distance)."""
    where, params = filter_sql(filters)
    if exclude_ids:
        where += " AND d.object_id <> ALL(%s)"
        params.append(list(exclude_ids))
    if exclude_hash:
        where += " AND d.content_hash <> %s"
        params.append(exclude_hash)
    where, params = " AND d.collection = %s" + where, [collection, *params]
    return sql.nearest_sql("e.document_id", "product", space, where, params, vector, limit)


def nearest_reviews(
    space: EmbeddingSpace, vector: np.ndarray, limit: int, collection: str = SHOP_COLLECTION
) -> list[tuple[int, str, float]]:
    """(review document id, its product's id, cosine distance) of the `limit` reviews nearest to `vector`: exactly
    where the collection has at most EXACT_SEARCH_MAX_ROWS reviews, else through the reviews' HNSW index."""
    with connection.cursor() as cursor:
        rows = sql.run_batch(
            cursor, [sql.scan_settings_sql(ef_search=limit), _nearest_reviews_sql(space, vector, limit, collection)]
        )[-1]
    return [(doc_id, product_id, float(dist)) for doc_id, product_id, dist in rows]


def _nearest_reviews_sql(space: EmbeddingSpace, vector: np.ndarray, limit: int, collection: str) -> tuple[str, list]:
    return sql.nearest_sql(
        "e.document_id, d.product_id",
        "review",
        space,
        " AND d.collection = %s",
        [collection],
        vector,
        limit,
    )


@dataclass(frozen=True)
class ReviewMatch:
    id: int  # the product's document id
    similarity: float  # cosine similarity of its best review among the nearest to the query
    review: int  # that review's document id


def review_matched_products(
    space: EmbeddingSpace, vector: np.ndarray, filters: Filters, collection: str = SHOP_COLLECTION
) -> list[ReviewMatch]:
    """Products whose reviews are nearest to `vector`, best first (`review_matches_sql`)."""
    with connection.cursor() as cursor:
        return _review_matches(sql.run_batch(cursor, _review_matches_sql(space, vector, filters, collection))[-1])


def _review_matches_sql(
    space: EmbeddingSpace, vector: np.ndarray, filters: Filters, collection: str
) -> list[tuple[str, list]]:
    """The statements of `review_matched_products`, in one round trip; the last one's rows are its matches.

    The REVIEW_CANDIDATES nearest reviews vote for their products; a product scores its best review's cosine
    similarity, so one review that says exactly what the shopper asks for counts, however many others it has.
    Filters apply to the products, after the review search.
    """
    limit = int(setting("REVIEW_CANDIDATES"))
    nearest, params = _nearest_reviews_sql(space, vector, limit, collection)
    where, filter_params = filter_sql(filters, "p")
    statement = f"""
        WITH nearest AS ({nearest}),
        best AS (SELECT DISTINCT ON (product_id) product_id, document_id, distance FROM nearest
                 ORDER BY product_id, distance, document_id)
        SELECT p.id, 1 - best.distance, best.document_id
        FROM best JOIN shopsearch_document p
          ON p.collection = %s AND p.kind = 'product' AND p.object_id = best.product_id
        WHERE true{where}"""
    return [sql.scan_settings_sql(ef_search=limit), (statement, [*params, collection, *filter_params])]


def _review_matches(rows: Sequence[tuple]) -> list[ReviewMatch]:
    matched = [ReviewMatch(doc_id, float(similarity), review) for doc_id, similarity, review in rows]
    return sorted(matched, key=lambda match: (-match.similarity, match.id))


@dataclass(frozen=True)
class KeywordMatch:
    id: int  # document id
    # IDF-weighted share of the query's lexemes the product contains + TRIGRAM_WEIGHT × title trigram similarity
    score: float
    title_share: float  # IDF-weighted share of the query's lexemes its title contains (0..1): evidence for fusion


def keyword_products(
    query: str, filters: Filters, limit: int, collection: str = SHOP_COLLECTION
) -> list[tuple[int, float]]:
    """(document id, keyword score) of the `limit` best text matches for `query` (see `keyword_matches`)."""
    return [(match.id, match.score) for match in keyword_matches(query, filters, limit, collection)]


# The keyword IDF's inputs, read from the counts indexing keeps current (vocabulary.py) rather than counted per
# query, which grew with the catalogue (docs/scaling.md): the collection's product total, and per query lexeme (CTE
# `lexemes`) how many of its products have it; a lexeme no product has has no row (df 0).
PRODUCT_TOTAL = "SELECT coalesce((SELECT products FROM shopsearch_producttotal WHERE collection = %s), 0) AS n"
LEXEME_DOCUMENTS = (
    "SELECT l.tsq, l.title_tsq, coalesce(x.documents, 0) AS df FROM lexemes l "
    "LEFT JOIN shopsearch_lexeme x ON x.collection = %s AND x.lexeme = l.lexeme"
)


def keyword_matches(query: str, filters: Filters, limit: int, collection: str = SHOP_COLLECTION) -> list[KeywordMatch]:
    """The `limit` best text matches for `query` that pass `filters`, best first.

    Candidates match any of the query's lexemes, or have a title trigram-similar to the query (typos); the best
    KEYWORD_RESCORE × `limit` of them by cover density are rescored. The score is the IDF-weighted share of the
    query's lexemes the product contains (IDF from this collection's own document frequencies, as BM25's, so rare
    words such as a brand weigh more than "black"; read, not counted: PRODUCT_TOTAL, LEXEME_DOCUMENTS) plus
    TRIGRAM_WEIGHT × the title's trigram word similarity to the query. A share in [0, 1] does not grow with
    repeated words or long texts, unlike ts_rank.

    Ranking a match costs its tsvector and title (about 0.1 ms), and a common word matches a share of the whole
    catalogue, so at most KEYWORD_MAX_MATCHES products of each of three sets are ranked: those containing every
    word, those with a query word in their title, and those containing any word (or with a trigram-similar title),
    each set as the GIN indexes return it. Below the cap every match is ranked; above it the cost stops growing
    with the catalogue, and the products with all the words or a title word are not crowded out by the many with
    one common word in their description (benchmarks/keyword_scale.py; docs/scaling.md).
    """
    where, params = filter_sql(filters)
    cap = int(setting("KEYWORD_MAX_MATCHES"))
    statement = f"""
        WITH q AS (SELECT {OR_TSQUERY} AS tsq, {AND_TSQUERY} AS all_tsq,
                          shopsearch_unaccent(%s) AS raw),
        matched AS (
            (SELECT d.id FROM shopsearch_document d, q
             WHERE d.collection = %s AND d.kind = 'product' AND d.search_vector @@ q.all_tsq{where} LIMIT %s)
            UNION
            (SELECT d.id FROM shopsearch_document d, q
             WHERE d.collection = %s AND d.kind = 'product' AND {TITLE_LEXEMES} @@ q.tsq{where} LIMIT %s)
            UNION
            (SELECT d.id FROM shopsearch_document d, q
             WHERE d.collection = %s AND d.kind = 'product'
               AND (d.search_vector @@ q.tsq OR q.raw <%% shopsearch_unaccent(d.title)){where} LIMIT %s)),
        candidates AS (
            SELECT * FROM (
                SELECT d.id, d.search_vector, coalesce(ts_rank_cd(d.search_vector, q.tsq, %s), 0) AS rank,
                       word_similarity(q.raw, shopsearch_unaccent(d.title)) AS trigram
                FROM matched JOIN shopsearch_document d ON d.id = matched.id, q) m
            ORDER BY m.rank + %s * m.trigram DESC, m.id LIMIT %s),
        lexemes AS (
            SELECT lexeme, quote_literal(lexeme)::tsquery AS tsq, (quote_literal(lexeme) || ':A')::tsquery AS title_tsq
            FROM unnest(to_tsvector('english', shopsearch_unaccent(%s)))),
        total AS ({PRODUCT_TOTAL}),
        frequencies AS ({LEXEME_DOCUMENTS}),
        idf AS MATERIALIZED (
            SELECT f.tsq, f.title_tsq, ln(1 + (total.n - f.df + 0.5) / (f.df + 0.5)) AS weight
            FROM frequencies f, total)
        SELECT c.id,
               coalesce((SELECT sum(idf.weight) FILTER (WHERE c.search_vector @@ idf.tsq) / nullif(sum(idf.weight), 0)
                         FROM idf), 0) + %s * c.trigram AS score,
               c.rank,
               coalesce((SELECT sum(idf.weight) FILTER (WHERE c.search_vector @@ idf.title_tsq) /
               nullif(sum(idf.weight), 0)
                         FROM idf), 0) AS title_share
        FROM candidates c
        ORDER BY score DESC, c.rank DESC, c.id LIMIT %s"""
    trigram_weight = float(setting("TRIGRAM_WEIGHT"))
    threshold = "SELECT set_config('pg_trgm.word_similarity_threshold', %s, true)", [str(setting("TRIGRAM_THRESHOLD"))]
    with connection.cursor() as cursor:
        rows = sql.run_batch(
            cursor,
            [
                threshold,
                (
                    statement,
                    [
                        query,
                        query,
                        query,
                        collection,
                        *params,
                        cap,
                        collection,
                        *params,
                        cap,
                        collection,
                        *params,
                        cap,
                        setting("KEYWORD_RANK_NORMALIZATION"),
                        trigram_weight,
                        int(setting("KEYWORD_RESCORE")) * limit,
                        query,
                        collection,
                        collection,
                        trigram_weight,
                        limit,
                    ],
                ),
            ],
        )[-1]
    return [KeywordMatch(doc_id, float(score), float(title_share)) for doc_id, score, _, title_share in rows]


def _normalised(ranked: list[tuple[int, float]]) -> dict[int, float]:
    """Scores min-max scaled to [0, 1] within one retriever's list (1 = its best, 0 = its worst candidate)."""
    if not ranked:
        return {}
    high, low = max(score for _, score in ranked), min(score for _, score in ranked)
    spread = high - low
    return {doc_id: (score - low) / spread if spread > 0 else 1.0 for doc_id, score in ranked}


# What a query tells about how far each retriever can be trusted (FUSION "adaptive"), each scaled to about [0, 1]:
# title_coverage — the IDF-weighted share of the query's words that the best-covered keyword title contains (all of
# them: the shopper named the product); keyword_top — the best keyword score; semantic_top — the best cosine
# similarity; semantic_spread — how far the 10th similarity falls below it (a flat list is no decision); words —
# the query's length (capped at 8 words); has_number — a digit (sizes, model numbers: words the model blurs);
# agreement — the share of the keyword list's first AGREEMENT_DEPTH that the vector list also retrieved (two
# retrievers that find the same products are both likely right; a model that knows nothing of the catalogue's
# words retrieves other products than the words do, whatever its similarity levels); keyword_empty — no product
# has any of the query's words (the match then rests on the semantic evidence alone).
EVIDENCE = (
    "title_coverage",
    "keyword_top",
    "semantic_top",
    "semantic_spread",
    "words",
    "has_number",
    "agreement",
    "keyword_empty",
)
AGREEMENT_DEPTH = 10


def query_evidence(
    query: str, keyword: Sequence[KeywordMatch], vector: Sequence[tuple[int, float]]
) -> dict[str, float]:
    """The evidence the query and its two ranked lists give (EVIDENCE); `vector` is (doc, similarity), best first."""
    similarities = [similarity for _, similarity in vector]
    first = [match.id for match in keyword[:AGREEMENT_DEPTH]]
    retrieved = {doc_id for doc_id, _ in vector}
    return {
        "title_coverage": max((match.title_share for match in keyword), default=0.0),
        "keyword_top": max((match.score for match in keyword), default=0.0),
        "semantic_top": similarities[0] if similarities else 0.0,
        "semantic_spread": similarities[0] - similarities[min(9, len(similarities) - 1)] if similarities else 0.0,
        "words": min(len(re.findall(r"\w+", query)), 8) / 8,
        "has_number": 1.0 if re.search(r"\d", query) else 0.0,
        "agreement": sum(doc_id in retrieved for doc_id in first) / len(first) if first else 0.0,
        "keyword_empty": 0.0 if keyword else 1.0,
    }


def fusion_weights(evidence: dict[str, float]) -> dict[str, float]:
    """FUSION "adaptive": this query's weight of the normalised keyword score and of the normalised similarity, each
    a linear function of the evidence with FUSION_MODEL's coefficients (benchmarks/fusion_fit.py fits them)."""
    model = setting("FUSION_MODEL")
    return {
        retriever: model.get(retriever, 0.0)
        + sum(model.get(f"{retriever}*{name}", 0.0) * evidence.get(name, 0.0) for name in EVIDENCE)
        for retriever in ("keyword", "semantic")
    }


def fusion_features(
    evidence: dict[str, float],
    keyword: float,
    keyword_score: float,
    title_share: float,
    semantic: float,
    similarity: float,
) -> dict[str, float]:
    """The named inputs of one candidate's relevance logit, named as FUSION_MODEL's coefficients are: the normalised
    keyword score and similarity, their products with each piece of evidence, the raw keyword score, the share of
    the query its title covers, the raw similarity, and the evidence itself (the same for every candidate of the
    query: it moves how likely the query's best hit is relevant, which `match` reads, not the order).
    `fuse` computes the same logit through `fusion_weights`; benchmarks/fusion_fit.py fits on these."""
    features = {
        "intercept": 1.0,
        "keyword": keyword,
        "semantic": semantic,
        "keyword_score": keyword_score,
        "title_share": title_share,
        "similarity": similarity,
    }
    for name in EVIDENCE:
        features[name] = evidence.get(name, 0.0)
        features[f"keyword*{name}"] = keyword * evidence.get(name, 0.0)
        features[f"semantic*{name}"] = semantic * evidence.get(name, 0.0)
    return features


def fuse(
    keyword: list[tuple[int, float]],
    vector: list[tuple[int, float]],
    reviews: list[tuple[int, float]] = (),
    evidence: dict[str, float] | None = None,
    title_shares: dict[int, float] | None = None,
) -> list[tuple[int, float]]:
    """One ranked list from the keyword list (doc, score), the vector list (doc, similarity) and, with reviews=true,
    the review list (doc, best review similarity; weighted by REVIEW_WEIGHT), best first.

    FUSION "adaptive" (default): each candidate's score is the estimated probability that it is relevant, a logistic
    model of its normalised keyword score and similarity weighted per query (`fusion_weights` of the query's
    `evidence`), and of its raw keyword score, the share of the query its title covers (`title_shares`) and its
    raw similarity (which keep the estimate comparable across queries);
    a product missing from the vector list has the list's lowest similarity (it is at most that). Review matches
    count with the semantic weight × REVIEW_WEIGHT: they are similarities of the same model.

    FUSION "convex" (default): KEYWORD_WEIGHT × min-max-normalised keyword score + VECTOR_WEIGHT × min-max-normalised
    cosine similarity; a product missing from a list gets that list's 0. Unlike ranks, scores keep how far apart
    two hits are, so a near-certain keyword match is not outvoted by a vague vector neighbour. FUSION "rrf":
    weighted reciprocal rank fusion, weight / (RRF_K + rank).
    """
    scores: dict[int, float] = {}
    if setting("FUSION") == "adaptive":
        return _adaptive(
            keyword, vector, reviews, evidence if evidence is not None else query_evidence("", [], vector), title_shares
        )
    weighted = (
        (float(setting("KEYWORD_WEIGHT")), keyword),
        (float(setting("VECTOR_WEIGHT")), vector),
        (float(setting("REVIEW_WEIGHT")), reviews),
    )
    if setting("FUSION") == "rrf":
        k = float(setting("RRF_K"))
        for weight, ranked in weighted:
            for rank, (doc_id, _) in enumerate(ranked, 1):
                scores[doc_id] = scores.get(doc_id, 0.0) + weight / (k + rank)
    else:
        for weight, ranked in weighted:
            for doc_id, score in _normalised(ranked).items():
                scores[doc_id] = scores.get(doc_id, 0.0) + weight * score
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def _adaptive(
    keyword: list[tuple[int, float]],
    vector: list[tuple[int, float]],
    reviews: Sequence[tuple[int, float]],
    evidence: dict[str, float],
    title_shares: dict[int, float] | None,
) -> list[tuple[int, float]]:
    model, weights = setting("FUSION_MODEL"), fusion_weights(evidence)
    keyword_norm, vector_norm, review_norm = _normalised(keyword), _normalised(vector), _normalised(list(reviews))
    raw_keyword, similarity = dict(keyword), dict(vector)
    floor = min(similarity.values(), default=0.0)
    query_logit = model.get("intercept", 0.0) + sum(model.get(name, 0.0) * evidence.get(name, 0.0) for name in EVIDENCE)
    scores = {}
    for doc_id in {**keyword_norm, **vector_norm, **review_norm}:
        logit = (
            query_logit
            + weights["keyword"] * keyword_norm.get(doc_id, 0.0)
            + weights["semantic"]
            * (vector_norm.get(doc_id, 0.0) + float(setting("REVIEW_WEIGHT")) * review_norm.get(doc_id, 0.0))
            + model.get("keyword_score", 0.0) * raw_keyword.get(doc_id, 0.0)
            + model.get("title_share", 0.0) * (title_shares or {}).get(doc_id, 0.0)
            + model.get("similarity", 0.0) * similarity.get(doc_id, floor)
        )
        scores[doc_id] = 1.0 / (1.0 + math.exp(-logit))
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


@analytics.logged
@rules.merchandised
def search_products(
    query: str,
    mode: Mode = "hybrid",
    filters: Filters = Filters(),
    page: int = 1,
    page_size: int | None = None,
    *,
    explain: bool = False,
    reviews: bool = False,
    highlight: bool = True,
    facets: bool = True,
    sort: Sort = "relevance",
    space: EmbeddingSpace | None = None,
    collection: str = SHOP_COLLECTION,
    understand: bool = True,
) -> SearchPage:
    """One page of products for `query`, best first: by keywords, by meaning, or both fused (the API's search).

    Each retriever returns at least `CANDIDATES` products so fusion and facets see more than one page. With
    `reviews` (semantic and hybrid), products whose reviews match the query are fused in as a third list, and each
    such hit says which of its review sentences matched. `sort` re-orders the retrieved candidates (`sorted_by`).
    With `understand`, price phrases become filters, a named category is boosted and typos are corrected
    (query_understanding.py); without, the query is searched as typed.
    """
    interpret = query_understanding.interpret if understand else query_understanding.as_typed
    meant = interpret(query, filters, collection)
    filters = meant.filters
    page_size = page_size or setting("PAGE_SIZE")
    offset = (page - 1) * page_size
    depth = max(offset + page_size + 1, int(setting("CANDIDATES")))
    keyword: list[tuple[int, float]] = []
    matches: list[KeywordMatch] = []
    vector: list[tuple[int, float]] = []
    encoding: Future[np.ndarray] | None = None
    if mode in ("semantic", "hybrid"):
        space = space or spaces.require_active_space()
        # Hybrid: the model encodes the query on another thread (torch releases the GIL) while the keyword query
        # runs in the database, so a search waits for the slower of the two rather than for both.
        encoding = _encoding_threads.submit(encode_query, space, meant.semantic_text) if mode == "hybrid" else None
    if mode in ("keyword", "hybrid"):
        matches = keyword_matches(meant.keyword_text, filters, depth, collection)
        keyword = [(match.id, match.score) for match in matches]
    review_matches: list[tuple[int, float]] = []
    best_review: dict[int, int] = {}  # product document id -> the review document that matched it
    if mode in ("semantic", "hybrid"):
        query_vector = encoding.result() if encoding is not None else encode_query(space, meant.semantic_text)
        # both vector retrievals in one round trip (each after its own HNSW settings)
        statements = [
            sql.scan_settings_sql(),
            _nearest_products_sql(space, query_vector, filters, depth, collection=collection),
        ]
        if reviews:
            statements += _review_matches_sql(space, query_vector, filters, collection)
        with connection.cursor() as cursor:
            results = sql.run_batch(cursor, statements)
        vector = [(doc_id, float(dist)) for doc_id, dist in results[1]]
        if reviews:
            found = _review_matches(results[-1])
            review_matches = [(match.id, match.similarity) for match in found]
            best_review = {match.id: match.review for match in found}
    if mode == "hybrid" or review_matches:
        similarities = [(doc_id, 1.0 - distance) for doc_id, distance in vector]
        evidence = query_evidence(meant.keyword_text, matches, similarities)
        ranked = fuse(
            keyword, similarities, review_matches, evidence, {match.id: match.title_share for match in matches}
        )
    elif mode == "keyword":
        ranked = keyword
    else:
        ranked = [(doc_id, 1.0 - distance) for doc_id, distance in vector]
    adaptive = setting("FUSION") == "adaptive" and (mode == "hybrid" or bool(review_matches))
    weights = fusion_weights(evidence) if adaptive else None
    relevance = max((score for _, score in ranked), default=None) if adaptive else None  # calibrated: before boosts
    ranked = query_understanding.boost(ranked, meant, probabilities=adaptive)
    if sort != "relevance":
        ranked = sorted_by(ranked, sort)
    window = ranked[offset : offset + page_size]
    # the page's hits, their review sentences and the facets: one round trip
    sentences = [best_review[doc_id] for doc_id, _ in window if doc_id in best_review]
    statements = [_hits_sql([doc_id for doc_id, _ in window], meant.keyword_text if highlight else None)]
    if sentences:
        statements.append(_review_sentences_sql(space, query_vector, sentences))
    if facets:
        statements += _facet_counts_sql([doc_id for doc_id, _ in ranked])
    with connection.cursor() as cursor:
        results = sql.run_batch(cursor, statements)
    hits = _hits_from(window, results[0], highlight)
    if sentences:
        matched = _matched_sentences(results[1], query)
        for hit, (doc_id, _) in zip(hits, window, strict=False):  # a document deleted meanwhile has no hit
            hit.review_sentence = matched.get(best_review.get(doc_id))
    if explain:
        keyword_at = {doc_id: (rank, score) for rank, (doc_id, score) in enumerate(keyword, 1)}
        vector_at = {doc_id: (rank, distance) for rank, (doc_id, distance) in enumerate(vector, 1)}
        review_at = {doc_id: (rank, similarity) for rank, (doc_id, similarity) in enumerate(review_matches, 1)}
        for hit, (doc_id, score) in zip(hits, window, strict=False):
            kw, vec = keyword_at.get(doc_id, (None, None)), vector_at.get(doc_id, (None, None))
            rev = review_at.get(doc_id, (None, None))
            hit.explain = {
                "keyword_rank": kw[0],
                "keyword_score": kw[1],
                "vector_rank": vec[0],
                "vector_distance": vec[1],
                "fused_score": score if mode == "hybrid" or review_matches else None,
                "fusion_weights": weights,
                **query_understanding.explain(meant),
            }
            if reviews:
                hit.explain.update(review_rank=rev[0], review_similarity=rev[1])
    cut = len(keyword) >= depth or len(vector) >= depth
    estimated = relevance is not None
    return SearchPage(
        hits=hits,
        page=page,
        page_size=page_size,
        has_next=len(ranked) > offset + page_size,
        space=space,
        facets=_facets_from(*results[-2:], filters) if facets else None,
        total=None if cut else len(ranked),
        relevance=relevance,
        match=match_level(relevance) if estimated else ("none" if not ranked else None),
        corrected_query=meant.corrected_query,
        understood=meant.understood,
    )


def match_level(relevance: float) -> str:
    """How good the best hit is: "good" from MATCH_THRESHOLDS["good"] up, "weak" from ["weak"], else "none"."""
    thresholds = setting("MATCH_THRESHOLDS")
    return "good" if relevance >= thresholds["good"] else "weak" if relevance >= thresholds["weak"] else "none"


def sorted_by(ranked: list[tuple[int, float]], sort: Sort) -> list[tuple[int, float]]:
    """The retrieved (document id, score) pairs re-ordered by price (either way), mean review rating or review count,
    best first; ties keep their relevance order, and products without a price (or without rated reviews) come last."""
    ids = [doc_id for doc_id, _ in ranked]
    statement = f"""
        SELECT d.id, d.price, r.rating, r.reviews FROM shopsearch_document d
        LEFT JOIN LATERAL ({_REVIEW_STATS}) r ON true WHERE d.id = ANY(%s)"""
    with connection.cursor() as cursor:
        cursor.execute(statement, [ids])
        facts = {doc_id: (price, rating, count) for doc_id, price, rating, count in cursor.fetchall()}
    position = {doc_id: n for n, doc_id in enumerate(ids)}

    def key(item: tuple[int, float]) -> tuple:
        price, rating, count = facts.get(item[0], (None, None, 0))
        value = {
            "price_asc": price,
            "price_desc": -price if price is not None else None,
            "rating": -rating if rating is not None else None,
            "reviews": -(count or 0),
        }[sort]
        return (value is None, value if value is not None else 0, position[item[0]])

    return sorted(ranked, key=key)


def _review_sentences_sql(space: EmbeddingSpace, vector: np.ndarray, review_ids: Sequence[int]) -> tuple[str, list]:
    """Per review document: its text and the span of its cached sentence nearest `vector` (none where the worker has
    not analysed it yet). An exact scan over these reviews' sentences (the document index)."""
    distance = sql.distance("s.vector", space)
    statement = f"""
        SELECT r.id, r.text, sentence.start, sentence."end" FROM shopsearch_document r
        LEFT JOIN LATERAL (
            SELECT s.start, s."end" FROM shopsearch_reviewsentence s WHERE s.space_id = %s AND s.document_id = r.id
            ORDER BY {distance} LIMIT 1) sentence ON true
        WHERE r.id = ANY(%s)"""
    return statement, [space.pk, sql.vector_param(vector), list(review_ids)]


def _matched_sentences(rows: Sequence[tuple], query: str) -> dict[int, str]:
    """Per review document (`_review_sentences_sql`'s rows), the sentence that says most what the query says: its
    cached sentence nearest the query, otherwise the sentence sharing most of the query's words (the first one if
    none does). A product found by its reviews shows this sentence of the review that matched it."""
    from .review_insights import split_sentences  # review_insights.py builds on this module

    words = set(re.findall(r"\w{3,}", query.lower()))
    matched = {}
    for review_id, text, start, end in rows:
        if start is None:
            spans = split_sentences(text) or [(0, len(text))]
            start, end = max(
                spans,
                key=lambda span: (len(words & set(re.findall(r"\w{3,}", text[span[0] : span[1]].lower()))), -span[0]),
            )
        matched[review_id] = text[start:end]
    return matched


def _hits(ranked: list[tuple[int, float]], highlight_query: str | None = None) -> list[Hit]:
    """Hits for (document id, score) pairs, in that order; with `highlight_query`, in the same round trip, the title
    and a description snippet, HTML-escaped, with the query's matched terms in <mark>."""
    with connection.cursor() as cursor:
        cursor.execute(*_hits_sql([doc_id for doc_id, _ in ranked], highlight_query))
        return _hits_from(ranked, cursor.fetchall(), highlight_query is not None)


def _hits_sql(ids: Sequence[int], highlight_query: str | None) -> tuple[str, list]:
    stats = f"LEFT JOIN LATERAL ({_REVIEW_STATS}) r ON true"
    if highlight_query is None:
        return f"SELECT {_HIT_COLUMNS}, NULL, NULL FROM shopsearch_document d {stats} WHERE d.id = ANY(%s)", [list(ids)]
    options = f"StartSel={_MARK_START}, StopSel={_MARK_STOP}"
    statement = f"""
        WITH q AS (SELECT coalesce({OR_TSQUERY}, ''::tsquery) AS tsq)
        SELECT {_HIT_COLUMNS}, ts_headline('english', d.title, q.tsq, %s), ts_headline('english', d.description,
        q.tsq, %s)
        FROM shopsearch_document d {stats}, q WHERE d.id = ANY(%s)"""
    params = [
        highlight_query,
        f"HighlightAll=true, {options}",
        f"MaxFragments=2, MinWords=8, MaxWords=25, {options}",
        list(ids),
    ]
    return statement, params


def _hits_from(ranked: list[tuple[int, float]], rows: Sequence[tuple], highlighted: bool) -> list[Hit]:
    """`_hits_sql`'s rows as hits, in the order of `ranked` (a document deleted meanwhile has none)."""
    by_id = {row[0]: row for row in rows}
    hits = []
    for doc_id, score in ranked:
        if (row := by_id.get(doc_id)) is not None:
            _, object_id, title, category, price, in_stock, rating, review_count, marked_title, marked_description = row
            marked = (
                {"title": _marked(marked_title), "description": _marked(marked_description)} if highlighted else None
            )
            hits.append(
                Hit(
                    id=object_id,
                    title=title,
                    category=category,
                    price=price,
                    in_stock=in_stock,
                    score=score,
                    highlights=marked,
                    rating=round(float(rating), 2) if rating is not None else None,
                    review_count=review_count,
                )
            )
    return hits


_HIT_COLUMNS = "d.id, d.object_id, d.title, d.category, d.price, d.in_stock, r.rating, r.reviews"
# A product document's reviews (the (kind, product_id) index): their mean rating and how many there are, for `d`;
# the mean alone for any alias (the min_rating filter).
_REVIEWS_OF = (
    "FROM shopsearch_document rv WHERE rv.collection = {alias}.collection AND rv.kind = 'review' "
    "AND rv.product_id = {alias}.object_id"
)
_REVIEW_STATS = f"SELECT avg(rv.rating) AS rating, count(*) AS reviews {_REVIEWS_OF.format(alias='d')}"
_MEAN_RATING = f"SELECT avg(rv.rating) {_REVIEWS_OF}"
_MARK_START, _MARK_STOP = "\x02", "\x03"  # ts_headline marks matches with these; escaping then turns them into <mark>


def _marked(text: str) -> str:
    return html.escape(text).replace(_MARK_START, "<mark>").replace(_MARK_STOP, "</mark>")


def facet_counts(doc_ids: Sequence[int], filters: Filters = Filters()) -> dict:
    """Counts of the retrieved products (the query's candidates after filters) by category, price bucket and stock,
    mean review rating (`rating_counts`) and each declared attribute facet (`attribute_counts`)."""
    with connection.cursor() as cursor:
        return _facets_from(*sql.run_batch(cursor, _facet_counts_sql(doc_ids)), filters)


def _facet_counts_sql(doc_ids: Sequence[int]) -> list[tuple[str, list]]:
    """`facet_counts`'s two statements: the grouped counts, and each product's attribute values and mean rating."""
    edges = [Decimal(str(edge)) for edge in setting("PRICE_BUCKETS")]
    grouped = """
        SELECT GROUPING(category, bucket, in_stock), category, bucket, in_stock, count(*)
        FROM (SELECT category, width_bucket(price, %s::numeric[]) AS bucket, in_stock FROM shopsearch_document WHERE id
        = ANY(%s)) d
        GROUP BY GROUPING SETS ((category), (bucket), (in_stock))"""
    products = (
        f"SELECT d.facets, r.rating FROM shopsearch_document d "
        f"LEFT JOIN LATERAL ({_REVIEW_STATS}) r ON true WHERE d.id = ANY(%s)"
    )
    return [(grouped, [edges, list(doc_ids)]), (products, [list(doc_ids)])]


def _facets_from(rows: Sequence[tuple], products: Sequence[tuple], filters: Filters) -> dict:
    """The facets from `_facet_counts_sql`'s rows."""
    edges = [Decimal(str(edge)) for edge in setting("PRICE_BUCKETS")]
    facets: dict = {"categories": [], "price": [], "in_stock": []}
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
    facets["rating"] = rating_counts([rating for _, rating in products])
    facets["attributes"] = attribute_counts([json.loads(values) for values, _ in products], filters)  # jsonb as text
    return facets


def rating_counts(ratings: Sequence[Decimal | None]) -> list[dict]:
    """The rating facet: per RATING_FACET_STEPS step ("4 and up"), how many of these mean ratings reach it; steps
    no product reaches are left out, and unrated products count in none."""
    rated = [float(rating) for rating in ratings if rating is not None]
    steps = sorted(setting("RATING_FACET_STEPS"), reverse=True)
    return [{"min": step, "count": count} for step in steps if (count := sum(rating >= step for rating in rated))]


def attribute_counts(products: Sequence[dict], filters: Filters = Filters()) -> list[dict]:
    """Each declared attribute facet that some of these products (their stored `facets`) have, in declaration
    order: strings and booleans as values with the number of products that have each (the FACET_VALUES most
    frequent, and those being filtered on); numbers as their least and greatest value and, where the declaration
    gives bucket edges, the products per range (min inclusive, max exclusive), a product counted once per range."""
    chosen = {attribute.name: set(attribute.values) for attribute in filters.attributes or ()}
    result = []
    for facet in declared_facets().values():
        having = [product[facet.name] for product in products if product.get(facet.name)]
        if not having:
            continue
        row = {"name": facet.name, "label": facet.label, "type": facet.type}
        if facet.type == "number":
            numbers = [[Decimal(str(value)) for value in values] for values in having]
            row |= {
                "min": min(map(min, numbers)),
                "max": max(map(max, numbers)),
                "count": len(having),
                "buckets": _ranges(numbers, list(facet.buckets)),
            }
        else:
            ranked = Counter(value for values in having for value in values).most_common()
            ranked.sort(key=lambda item: (-item[1], str(item[0])))
            kept = ranked[: int(setting("FACET_VALUES"))]
            kept += [item for item in ranked[len(kept) :] if item[0] in chosen.get(facet.name, ())]
            row["values"] = [{"value": value, "count": count} for value, count in kept]
        result.append(row)
    return result


def _ranges(numbers: list[list[Decimal]], edges: list[Decimal]) -> list[dict]:
    """Products (each a list of values) per range between `edges` (open at both ends), ranges with none left out."""
    ranges = []
    for low, high in zip([None, *edges], [*edges, None], strict=True) if edges else ():
        count = sum(any((low is None or n >= low) and (high is None or n < high) for n in values) for values in numbers)
        if count:
            ranges.append({"min": low, "max": high, "count": count})
    return ranges
