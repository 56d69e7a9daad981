"""Recommendations: similar products (their text blended with what their reviews say), more like these and less
like those, what a session's recent views suggest, and what is trending.

Retrieval reuses search.py's filters (`filter_sql`, `Filters`), `nearest_products` and `NotReady`, so search and
recommendations filter alike; the SQL only recommendations need lives here. Everything ranks inside PostgreSQL,
through the per-space HNSW indexes (products, and review centroids: see `indexing.refresh_review_vectors`) or
exactly where filters leave at most EXACT_SEARCH_MAX_ROWS products; Python only re-scores a bounded candidate pool,
never the catalogue.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Literal

import numpy as np
from django.core import signing
from django.db import transaction
from django.utils import timezone

from . import sql
from .conf import setting
from .exceptions import InvalidSession, NotReady, UnknownProduct
from .models import SHOP_COLLECTION, Document, Embedding, EmbeddingSpace, Event, ReviewVector
from .routers import read_connection as connection  # the replica inside routers.replica_reads()
from .search import Filters, Hit, _hits, filter_sql, nearest_products
from .spaces import require_active_space

Strategy = Literal["average", "best_score"]
STRATEGIES: tuple[Strategy, ...] = ("average", "best_score")


def product_vectors(
    space: EmbeddingSpace, object_id: str, collection: str
) -> tuple[Document, np.ndarray, np.ndarray | None]:
    """A product's document, its text vector and its review centroid (None without reviews), in two queries.
    UnknownProduct if the id is unknown; NotReady if the product is not embedded yet."""
    document = Document.objects.filter(collection=collection, kind="product", object_id=str(object_id)).first()
    if document is None:
        raise UnknownProduct(f"No indexed product with id {object_id!r}.")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT vector_send(e.vector), vector_send(rv.vector) FROM shopsearch_embedding e
                LEFT JOIN {ReviewVector._meta.db_table} rv ON rv.document_id = e.document_id AND rv.space_id =
                e.space_id
                WHERE e.space_id = %s AND e.document_id = %s""",
            [space.pk, document.pk],
        )
        row = cursor.fetchone()
    if row is None:
        raise NotReady(f"Product {object_id} is still being indexed; try again in a moment.")
    return document, sql.from_binary(row[0]), sql.from_binary(row[1]) if row[1] is not None else None


# --- similar products ---------------------------------------------------------------------------------------------


def similar_products(
    object_id: str,
    filters: Filters = Filters(),
    limit: int | None = None,
    *,
    same_category: bool = False,
    diversity: float = 0.0,
    review_weight: float | None = None,
    space: EmbeddingSpace | None = None,
    collection: str = SHOP_COLLECTION,
) -> list[Hit]:
    """Products nearest to this one, never itself nor exact duplicates of its text.

    Two products that both have reviews are compared by (1 − w)·cos(texts) + w·cos(review centroids), w =
    `SIMILAR_REVIEW_WEIGHT`; otherwise by their texts alone. Candidates come from both HNSW indexes (texts and
    review centroids, filters inside), then the pool is scored exactly. `diversity` > 0 reorders the pool by maximal
    marginal relevance: (1 − diversity)·score − diversity·(highest similarity to a product already picked).
    """
    space = space or require_active_space()
    limit = limit or setting("PAGE_SIZE")
    weight = float(setting("SIMILAR_REVIEW_WEIGHT") if review_weight is None else review_weight)
    document, vector, review = product_vectors(space, object_id, collection)
    review = review if weight > 0 else None
    if same_category:
        if document.category is None or filters.category not in (None, document.category):
            return []  # no category to share, or one that contradicts the category filter
        filters = replace(filters, category=document.category)
    exclude = {"exclude_ids": [document.object_id], "exclude_hash": document.content_hash, "collection": collection}
    if review is None and diversity <= 0:
        return _hits(
            [
                (doc_id, 1.0 - distance)
                for doc_id, distance in nearest_products(space, vector, filters, limit, **exclude)
            ]
        )
    pool = max(limit, int(setting("SIMILAR_CANDIDATES")))
    candidates = [doc_id for doc_id, _ in nearest_products(space, vector, filters, pool, **exclude)]
    if review is not None:
        known = set(candidates)
        candidates += [
            doc_id
            for doc_id, _ in nearest_review_centroids(space, review, filters, pool, **exclude)
            if doc_id not in known
        ]
    scored = _blended_scores(space, candidates, vector, review, weight)
    if diversity <= 0:
        return _hits(sorted(scored.items(), key=lambda item: (-item[1], item[0]))[:limit])
    return _hits(_mmr(space, scored, weight, diversity, limit))


def nearest_review_centroids(
    space: EmbeddingSpace,
    review: np.ndarray,
    filters: Filters,
    limit: int,
    exclude_ids: Sequence[str] = (),
    exclude_hash: str = "",
    collection: str = SHOP_COLLECTION,
) -> list[tuple[int, float]]:
    """(document id, cosine distance) of the `limit` products whose review centroid is nearest to `review`, filters
    inside.

    Where at most EXACT_SEARCH_MAX_ROWS products qualify, their centroids are ranked exactly; the passing products
    are listed first (materialised). Joined the other way round, the planner merged the centroids with the documents
    in id order and read every review's document looking for more products: 24-30 ms instead of 3-6 ms on the demo
    catalogue. Larger sets go through the centroids' HNSW index.
    """
    where, params = filter_sql(filters)
    where, params = (
        " AND d.collection = %s AND d.object_id <> ALL(%s) AND d.content_hash <> %s" + where,
        [collection, list(exclude_ids), exclude_hash, *params],
    )
    distance = sql.distance("rv.vector", space)
    literal = sql.vector_param(review)
    if sql.scan_exactly(where, params):
        statement = f"""
            WITH passing AS MATERIALIZED (SELECT d.id FROM shopsearch_document d WHERE d.kind = 'product'{where})
            SELECT rv.document_id, {distance} FROM passing p JOIN {ReviewVector._meta.db_table} rv ON rv.document_id =
            p.id AND rv.space_id = {int(space.pk)}
            ORDER BY 2 LIMIT %s"""
        args = [*params, literal, limit]
    else:
        statement = f"""
            SELECT rv.document_id, {distance} AS distance FROM {ReviewVector._meta.db_table} rv JOIN shopsearch_document
            d ON d.id = rv.document_id
            WHERE rv.space_id = {int(space.pk)}{where} ORDER BY distance LIMIT %s"""
        args = [literal, *params, limit]
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        sql.scan_settings(cursor)
        cursor.execute(statement, args)
        return [(doc_id, float(dist)) for doc_id, dist in cursor.fetchall()]


def _blended_scores(
    space: EmbeddingSpace, doc_ids: list[int], vector: np.ndarray, review: np.ndarray | None, weight: float
) -> dict[int, float]:
    """Exact similarity of each candidate to the product: text cosine, blended with the review centroids' cosine
    where both products have one."""
    review_sim = f"1 - ({sql.distance('rv.vector', space)})" if review is not None else "NULL"
    statement = f"""
        SELECT e.document_id, 1 - ({sql.distance("e.vector", space)}), {review_sim}
        FROM shopsearch_embedding e
        LEFT JOIN {ReviewVector._meta.db_table} rv ON rv.document_id = e.document_id AND rv.space_id = e.space_id
        WHERE e.space_id = {int(space.pk)} AND e.document_id = ANY(%s)"""
    params = [sql.vector_param(vector), *([sql.vector_param(review)] if review is not None else []), doc_ids]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return {
            doc_id: (1 - weight) * text + weight * rev if rev is not None else text
            for doc_id, text, rev in cursor.fetchall()
        }


def _mmr(
    space: EmbeddingSpace, scored: dict[int, float], weight: float, diversity: float, limit: int
) -> list[tuple[int, float]]:
    """Maximal marginal relevance over the best MMR_CANDIDATES of the scored pool; pairwise similarity blends like
    the scores do (text, plus review centroids where both have one)."""
    ranked = sorted(scored.items(), key=lambda item: (-item[1], item[0]))[: max(limit, int(setting("MMR_CANDIDATES")))]
    ids = [doc_id for doc_id, _ in ranked]
    statement = f"""
        SELECT e.document_id, vector_send(e.vector), vector_send(rv.vector) FROM shopsearch_embedding e
        LEFT JOIN {ReviewVector._meta.db_table} rv ON rv.document_id = e.document_id AND rv.space_id = e.space_id
        WHERE e.space_id = {int(space.pk)} AND e.document_id = ANY(%s)"""
    with connection.cursor() as cursor:
        cursor.execute(statement, [ids])
        rows = {doc_id: (text, review) for doc_id, text, review in cursor.fetchall()}
    text = np.asarray([sql.from_binary(rows[doc_id][0]) for doc_id in ids])
    pairwise = text @ text.T
    has_review = np.asarray([weight > 0 and rows[doc_id][1] is not None for doc_id in ids])
    if has_review.any():
        review = np.asarray(
            [
                sql.from_binary(rows[doc_id][1]) if has else np.zeros(text.shape[1], np.float32)
                for doc_id, has in zip(ids, has_review, strict=True)
            ]
        )
        pairwise = np.where(
            np.outer(has_review, has_review), (1 - weight) * pairwise + weight * (review @ review.T), pairwise
        )
    relevance = np.asarray([score for _, score in ranked])
    picked: list[int] = []
    closest = np.zeros(len(ids))  # highest similarity to a product already picked (none yet: no penalty)
    for _ in range(min(limit, len(ids))):
        gain = (1 - diversity) * relevance - diversity * closest
        gain[picked] = -np.inf
        best = int(np.argmax(gain))
        picked.append(best)
        closest = np.maximum(closest, pairwise[best])
    return [(ids[i], float(relevance[i])) for i in picked]


# --- more like these, less like those -----------------------------------------------------------------------------


def example_vectors(space: EmbeddingSpace, object_ids: Sequence[str]) -> dict[str, np.ndarray]:
    """The vectors of these products. UnknownProduct names the first unknown id; NotReady those not embedded yet."""
    ids = list(dict.fromkeys(str(pk) for pk in object_ids))
    known = set(
        Document.objects.filter(collection=SHOP_COLLECTION, kind="product", object_id__in=ids).values_list(
            "object_id", flat=True
        )
    )
    unknown = [pk for pk in ids if pk not in known]
    if unknown:
        raise UnknownProduct(
            f"No indexed product with id {unknown[0]!r}"
            + (f" (nor {', '.join(map(repr, unknown[1:]))})." if len(unknown) > 1 else ".")
        )
    rows = Embedding.objects.filter(
        space=space, kind="product", document__collection=SHOP_COLLECTION, document__object_id__in=ids
    )
    vectors = {
        object_id: np.asarray(vector, dtype=np.float32)
        for object_id, vector in rows.values_list("document__object_id", "vector")
    }
    pending = [pk for pk in ids if pk not in vectors]
    if pending:
        raise NotReady(f"Product(s) {', '.join(pending)} are still being indexed; try again in a moment.")
    return vectors


def recommend(
    positive: Sequence[str],
    negative: Sequence[str] = (),
    strategy: Strategy = "average",
    filters: Filters = Filters(),
    limit: int | None = None,
) -> list[Hit]:
    """Products like the positive examples and unlike the negative ones; the examples themselves never come back.

    average: the nearest products to 2·mean(positives) − mean(negatives) (to mean(positives) without negatives), one
    HNSW search. best_score: candidates near each positive (HNSW), scored exactly by their highest similarity to a
    positive minus their highest similarity to a negative.
    """
    space = require_active_space()
    limit = limit or setting("PAGE_SIZE")
    vectors = example_vectors(space, [*positive, *negative])
    pos = np.asarray([vectors[str(pk)] for pk in positive])
    neg = np.asarray([vectors[str(pk)] for pk in negative]).reshape(-1, pos.shape[1])
    exclude = list(vectors)
    if strategy == "average":
        target = 2 * pos.mean(axis=0) - neg.mean(axis=0) if len(neg) else pos.mean(axis=0)
        target = target / (np.linalg.norm(target) or 1.0)
        return _hits(
            [
                (doc_id, 1.0 - distance)
                for doc_id, distance in nearest_products(space, target, filters, limit, exclude_ids=exclude)
            ]
        )
    return _hits(_best_score(space, pos, neg, filters, limit, exclude))


def _best_score(
    space: EmbeddingSpace, pos: np.ndarray, neg: np.ndarray, filters: Filters, limit: int, exclude: list[str]
) -> list[tuple[int, float]]:
    dims = int(space.dimensions)
    distance = sql.distance("e.vector", space, "x.vec")
    where, params = filter_sql(filters)
    # x is materialised (used twice), so each example's text is parsed into a vector once, not once per candidate.
    statement = f"""
        WITH x AS MATERIALIZED (SELECT t.vec::vector({dims}) AS vec, t.positive FROM unnest(%s::text[], %s::boolean[])
        AS t(vec, positive)),
        pool AS (
            SELECT DISTINCT c.document_id FROM x CROSS JOIN LATERAL (
                SELECT e.document_id FROM shopsearch_embedding e JOIN shopsearch_document d ON d.id = e.document_id
                WHERE e.space_id = {int(space.pk)} AND e.kind = 'product' AND d.collection = %s
                  AND d.object_id <> ALL(%s){where}
                ORDER BY {distance} LIMIT %s) c
            WHERE x.positive)
        SELECT p.document_id,
               max(1 - ({distance})) FILTER (WHERE x.positive)
               - coalesce(max(1 - ({distance})) FILTER (WHERE NOT x.positive), 0) AS score
        FROM pool p JOIN shopsearch_embedding e ON e.document_id = p.document_id AND e.space_id = {int(space.pk)}
        CROSS JOIN x
        GROUP BY p.document_id ORDER BY score DESC, p.document_id LIMIT %s"""
    examples = [*pos, *neg]
    flags = [True] * len(pos) + [False] * len(neg)
    per_example = max(limit, int(setting("EXAMPLES_CANDIDATES")))
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        sql.scan_settings(cursor)
        cursor.execute(
            statement,
            [[sql.vector_param(v) for v in examples], flags, SHOP_COLLECTION, exclude, *params, per_example, limit],
        )
        return [(doc_id, float(score)) for doc_id, score in cursor.fetchall()]


# --- events, recently viewed, trending ----------------------------------------------------------------------------

# Shopper sessions are issued by the server: a random id signed with SECRET_KEY ("<id>:<signature>"). Events and
# for-session recommendations need the signed form, so nobody can guess another shopper's session, read its
# recommendations or post events in its name; the events table stores the id alone.
SESSION_SALT = "shopsearch.session"


def new_session() -> str:
    """A new shopper session id, signed: 128 random bits and their signature."""
    return signing.Signer(salt=SESSION_SALT).sign(secrets.token_urlsafe(16))


def session_key(signed: str) -> str:
    """The stored id of a signed session id; InvalidSession if the signature does not match."""
    try:
        return signing.Signer(salt=SESSION_SALT).unsign(signed)
    except signing.BadSignature as exc:
        raise InvalidSession("not a session id this shop issued; get one from POST /api/sessions/") from exc


def valid_session_keys(values) -> set[str]:
    """The stored ids of those of these values that are signed session ids (rate limits count them per session)."""
    keys = set()
    for value in values:
        if isinstance(value, str):
            try:
                keys.add(session_key(value))
            except InvalidSession:
                continue
    return keys


def unknown_products(object_ids: Sequence[str]) -> set[str]:
    """Those of these ids that no indexed product of the shop has."""
    ids = set(object_ids)
    known = Document.objects.filter(collection=SHOP_COLLECTION, kind="product", object_id__in=ids).values_list(
        "object_id", flat=True
    )
    return ids - set(known)


def record_events(events: Sequence[dict]) -> int:
    """Store validated events, all or none (one transaction)."""
    with transaction.atomic():
        return len(Event.objects.bulk_create([Event(**event) for event in events]))


def delete_old_events(days: int | None = None) -> int:
    """Delete the events older than `days` (EVENT_RETENTION_DAYS; None there keeps every event); how many went."""
    days = setting("EVENT_RETENTION_DAYS") if days is None else days
    if days is None:
        return 0
    deleted, _ = Event.objects.filter(created_at__lt=timezone.now() - timedelta(days=int(days))).delete()
    return deleted


def for_session(session_id: str, filters: Filters = Filters(), limit: int | None = None) -> list[Hit]:
    """Products near the session's recent views (the k-th most recent weighs SESSION_RECENCY_DECAY^(k−1)), never
    one the session has already seen (viewed, clicked or put in the cart). No views yet: nothing."""
    space = require_active_space()
    limit = limit or setting("PAGE_SIZE")
    session = Event.objects.filter(session_id=session_id)
    recent = (
        session.filter(type=Event.Type.VIEW)
        .order_by("-created_at", "-pk")
        .values_list("product_id", flat=True)[: setting("SESSION_RECENT_VIEWS")]
    )
    weights: dict[str, float] = {}
    for rank, product_id in enumerate(recent):
        weights[product_id] = weights.get(product_id, 0.0) + float(setting("SESSION_RECENCY_DECAY")) ** rank
    rows = Embedding.objects.filter(
        space=space, kind="product", document__collection=SHOP_COLLECTION, document__object_id__in=list(weights)
    )
    vectors = rows.values_list("document__object_id", "vector")
    target = sum(
        (weights[object_id] * np.asarray(vector, dtype=np.float32) for object_id, vector in vectors),
        np.zeros(space.dimensions, dtype=np.float32),
    )
    if not np.any(target):
        return []  # no views, or none of the viewed products is indexed yet
    seen = list(session.values_list("product_id", flat=True).distinct())
    target = target / np.linalg.norm(target)
    return _hits(
        [
            (doc_id, 1.0 - distance)
            for doc_id, distance in nearest_products(space, target, filters, limit, exclude_ids=seen)
        ]
    )


def trending(filters: Filters = Filters(), days: int | None = None, limit: int | None = None) -> list[Hit]:
    """Products with the most events of the last `days`, each weighted by its type (TRENDING_EVENT_WEIGHTS) and
    halved every TRENDING_HALF_LIFE_HOURS of age. A session counts once per product: its heaviest event for that
    product (after decay), so a burst of one session's events moves a product as much as one shopper does. The
    score is the sum over sessions."""
    days = days or setting("TRENDING_DAYS")
    limit = limit or setting("PAGE_SIZE")
    type_weights = setting("TRENDING_EVENT_WEIGHTS")
    # float8 throughout: numeric arithmetic (extract's type, and literals) makes power() ~20× slower here.
    case = "CASE ev.type " + " ".join("WHEN %s THEN %s::float8" for _ in type_weights) + " ELSE 0::float8 END"
    where, params = filter_sql(filters)
    # Events are summed per product first, so only one row per product meets the documents (and the filters).
    statement = f"""
        WITH sessions AS (
            SELECT ev.product_id, max(({case}) * power(0.5::float8, extract(epoch FROM now() - ev.created_at)::float8 /
            3600.0 / %s::float8)) AS score
            FROM {Event._meta.db_table} ev WHERE ev.created_at >= now() - make_interval(days => %s)
            GROUP BY ev.product_id, ev.session_id),
        counts AS (SELECT product_id, sum(score) AS score FROM sessions GROUP BY product_id)
        SELECT d.id, c.score FROM counts c
        JOIN shopsearch_document d ON d.collection = %s AND d.kind = 'product' AND d.object_id = c.product_id
        WHERE true{where}
        ORDER BY c.score DESC, d.id LIMIT %s"""
    case_params = [value for item in type_weights.items() for value in (item[0], float(item[1]))]
    with connection.cursor() as cursor:
        cursor.execute(
            statement,
            [*case_params, float(setting("TRENDING_HALF_LIFE_HOURS")), int(days), SHOP_COLLECTION, *params, limit],
        )
        return _hits([(doc_id, float(score)) for doc_id, score in cursor.fetchall() if score > 0])


def also_viewed(product_id: str, limit: int | None = None) -> list[Hit]:
    """ "Shoppers also viewed": the products most sessions that viewed this one also viewed (item-to-item co-occurrence,
    each session counted once per product), never the product itself. A product needs ALSO_VIEWED_MIN_SESSIONS
    such sessions: below that it would show what one other shopper happened to look at, which is neither a pattern
    nor theirs to publish. The score is the number of co-viewing sessions."""
    limit = limit or setting("PAGE_SIZE")
    statement = f"""
        WITH viewers AS (SELECT DISTINCT session_id FROM {Event._meta.db_table} WHERE product_id = %s AND type =
        'view'),
        co AS (
            SELECT ev.product_id, count(DISTINCT ev.session_id) AS sessions
            FROM {Event._meta.db_table} ev JOIN viewers v ON v.session_id = ev.session_id
            WHERE ev.type = 'view' AND ev.product_id <> %s GROUP BY ev.product_id HAVING count(DISTINCT ev.session_id)
            >= %s)
        SELECT d.id, co.sessions FROM co
        JOIN shopsearch_document d ON d.collection = %s AND d.kind = 'product' AND d.object_id = co.product_id
        ORDER BY co.sessions DESC, d.id LIMIT %s"""
    with connection.cursor() as cursor:
        cursor.execute(
            statement,
            [str(product_id), str(product_id), int(setting("ALSO_VIEWED_MIN_SESSIONS")), SHOP_COLLECTION, limit],
        )
        return _hits([(doc_id, float(sessions)) for doc_id, sessions in cursor.fetchall()])
