"""Keeping documents and vectors in step with the shop's objects: sync, embed, remove, reindex, switch spaces.

Everything is idempotent and keyed by content hashes, so a task that runs twice, a retried batch or a re-run
`reindex` only embeds what is missing or stale. A new space (another model or recipe) is filled while the active
one keeps serving, and `activate` switches over in one transaction once it is complete.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.utils import timezone

from . import encoders, registry, sentiment, spaces, vocabulary
from .conf import setting
from .exceptions import SentimentError, SpaceError
from .models import SHOP_COLLECTION, Document, Embedding, EmbeddingSpace, PendingChange, ReviewVector
from .registry import Kind, ProductDocument, ReviewDocument

logger = logging.getLogger(__name__)


# --- documents ----------------------------------------------------------------------------------------------


def _document_fields(kind: Kind, doc: ProductDocument | ReviewDocument) -> dict:
    if isinstance(doc, ProductDocument):
        text = registry.product_text(doc)
        return {
            "title": doc.title,
            "description": doc.description,
            "attributes": dict(doc.attributes),
            "text": text,
            "facets": registry.facet_values(doc),
            "category": doc.category,
            "price": doc.price,
            "in_stock": doc.in_stock,
            "product_id": None,
            "rating": None,
            "helpful_votes": 0,
            "published_at": None,
            "content_hash": registry.content_hash(text),
        }
    text = registry.review_text(doc)
    return {
        "title": doc.title,
        "description": doc.text,
        "attributes": {},
        "facets": {},
        "text": text,
        "category": None,
        "price": None,
        "in_stock": True,
        "product_id": str(doc.product_id),
        "rating": doc.rating,
        "helpful_votes": doc.helpful_votes,
        "published_at": doc.created,
        "content_hash": registry.content_hash(text),
    }


def sync_documents(kind: Kind, object_ids: Iterable) -> list[Document]:
    """Bring the documents of these objects up to date from the shop's models; objects that are gone are removed."""
    model = registry.indexed_model(kind)
    ids = [str(pk) for pk in object_ids]
    if model is None or not ids:
        return []
    make_document = registry.document_function(kind)
    instances = {str(obj.pk): obj for obj in model._default_manager.filter(pk__in=ids)}
    remove_documents(kind, [pk for pk in ids if pk not in instances])
    fields = {pk: _document_fields(kind, make_document(obj)) for pk, obj in instances.items()}
    if not fields:
        return []
    Document.objects.bulk_create(
        [Document(kind=kind, object_id=pk, **values) for pk, values in fields.items()],
        update_conflicts=True,
        unique_fields=["collection", "kind", "object_id"],
        update_fields=[*next(iter(fields.values())), "updated_at"],
    )
    return list(Document.objects.filter(collection=SHOP_COLLECTION, kind=kind, object_id__in=instances))


def remove_documents(kind: Kind, object_ids: Iterable) -> int:
    """Forget these objects: their documents and, by cascade, their vectors in every space (and the review
    centroids of the products whose reviews these were)."""
    ids = [str(pk) for pk in object_ids]
    if not ids:
        return 0
    reviewed = reviewed_products(kind, ids)
    _, per_model = Document.objects.filter(collection=SHOP_COLLECTION, kind=kind, object_id__in=ids).delete()
    if reviewed:
        for space in EmbeddingSpace.objects.all():
            refresh_review_vectors(space, reviewed)
    return per_model.get(Document._meta.label, 0)


def reviewed_products(kind: Kind, object_ids: Sequence[str], collection: str = SHOP_COLLECTION) -> set[str]:
    """The products these reviews belong to now (empty for products): their centroids change with the reviews."""
    if kind != "review":
        return set()
    docs = Document.objects.filter(
        collection=collection, kind="review", object_id__in=list(object_ids), product_id__isnull=False
    )
    return set(docs.values_list("product_id", flat=True))


# --- review centroids -------------------------------------------------------------------------------------------


def refresh_review_vectors(
    space: EmbeddingSpace, product_ids: Iterable[str], collection: str = SHOP_COLLECTION
) -> None:
    """Recompute the review centroid of these products in `space` from their reviews' current vectors.

    One SQL statement averages (pgvector's avg) and normalises them; a product left without embedded reviews loses
    its centroid, so similar products fall back to its text alone.
    """
    ids = sorted({str(pk) for pk in product_ids if pk is not None})
    if not ids:
        return
    dims, table = int(space.dimensions), ReviewVector._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (space_id, document_id, vector, reviews, updated_at)
            SELECT %s, p.id, l2_normalize(avg(e.vector::vector({dims}))), count(*), now()
            FROM shopsearch_document p
            JOIN shopsearch_document r ON r.collection = p.collection AND r.kind = 'review' AND r.product_id =
            p.object_id
            JOIN shopsearch_embedding e ON e.document_id = r.id AND e.space_id = %s
            WHERE p.collection = %s AND p.kind = 'product' AND p.object_id = ANY(%s)
            GROUP BY p.id
            ON CONFLICT (space_id, document_id)
            DO UPDATE SET vector = EXCLUDED.vector, reviews = EXCLUDED.reviews, updated_at = EXCLUDED.updated_at""",
            [space.pk, space.pk, collection, ids],
        )
        cursor.execute(
            f"""
            DELETE FROM {table} rv USING shopsearch_document p
            WHERE rv.space_id = %s AND rv.document_id = p.id AND p.collection = %s AND p.kind = 'product'
              AND p.object_id = ANY(%s)
              AND NOT EXISTS (SELECT 1 FROM shopsearch_document r JOIN shopsearch_embedding e ON e.document_id = r.id
                              WHERE e.space_id = %s AND r.collection = p.collection AND r.kind = 'review'
                                AND r.product_id = p.object_id)""",
            [space.pk, collection, ids, space.pk],
        )


# --- vectors ------------------------------------------------------------------------------------------------


def embed_documents(space: EmbeddingSpace, documents: Sequence[Document]) -> tuple[int, int]:
    """Write vectors for the documents whose text changed since they were last embedded in `space`.

    Returns (embedded, skipped as unchanged).
    """
    known = dict(
        Embedding.objects.filter(space=space, document__in=documents).values_list("document_id", "content_hash")
    )
    stale = [doc for doc in documents if known.get(doc.pk) != doc.content_hash]
    if stale:
        vectors = spaces.encode_texts(space, [doc.text for doc in stale])  # a text embedded there before is copied
        rows = [
            Embedding(space=space, document=doc, kind=doc.kind, vector=vector, content_hash=doc.content_hash)
            for doc, vector in zip(stale, vectors, strict=True)
        ]
        reviews = [(row, doc.text) for row, doc in zip(rows, stale, strict=True) if doc.kind == "review"]
        sentiment.annotate(space, [row for row, _ in reviews], [text for _, text in reviews])
        Embedding.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["space", "document"],
            update_fields=["vector", "content_hash", "updated_at", *sentiment.FIELDS],
        )
    return len(stale), len(documents) - len(stale)


def index_objects(kind: Kind, object_ids: Iterable, space: EmbeddingSpace | None = None) -> tuple[int, int]:
    """Sync these objects' documents and embed them in `space`, or in every space that must stay current; then
    refresh the review centroids these objects touch (a review's old and new product, or the products themselves).

    One transaction per call, holding a lock per object (`lock_objects`): two tasks for the same object (two quick
    saves, a save during a reindex) run one after the other, and the later one reads the object as the later save
    left it, so the vector always ends up made from the latest committed text. A deleted object is removed the same
    way. The objects' pending changes whose tickets were read here are cleared once every current space has them.
    """
    ids = [str(pk) for pk in object_ids]
    with transaction.atomic():
        lock_objects(kind, ids)
        tickets = dict(PendingChange.objects.filter(kind=kind, object_id__in=ids).values_list("object_id", "seq"))
        reviewed = reviewed_products(kind, ids)  # before the sync: a review moved to another product leaves its old one
        terms = vocabulary.counts(SHOP_COLLECTION, ids) if kind == "product" else None  # before the sync, too
        documents = sync_documents(kind, ids)
        touched = reviewed | reviewed_products(kind, ids) if kind == "review" else {doc.object_id for doc in documents}
        current = spaces.spaces_to_update()
        targets = [space] if space is not None else (current or [spaces.ensure_active_space()])
        embedded = skipped = 0
        for target in targets:
            done, unchanged = embed_documents(target, documents)
            refresh_review_vectors(target, touched)
            embedded, skipped = embedded + done, skipped + unchanged
        if {s.pk for s in current} <= {s.pk for s in targets}:
            clear_pending(kind, tickets)
        if terms is not None:  # last: the collection's counts stay locked only until the commit
            vocabulary.apply(SHOP_COLLECTION, terms, vocabulary.counts(SHOP_COLLECTION, ids))
    return embedded, skipped


def lock_objects(kind: Kind, object_ids: Sequence[str]) -> None:
    """Take a transaction-scoped advisory lock per object, in one sorted order (so two batches never deadlock)."""
    keys = sorted(
        {
            int.from_bytes(
                hashlib.blake2b(f"shopsearch:{kind}:{pk}".encode(), digest_size=8).digest(), "big", signed=True
            )
            for pk in object_ids
        }
    )
    if keys:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(pg_advisory_xact_lock(key)) FROM unnest(%s::bigint[]) AS key", [keys])


def record_changes(kind: Kind, object_ids: Iterable) -> None:
    """Note, in the caller's transaction, that these shop objects changed: each gets a new ticket."""
    ids = sorted({str(pk) for pk in object_ids})
    if ids:
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {PendingChange._meta.db_table} (kind, object_id, seq, changed_at) "
                "SELECT %s, object_id, nextval('shopsearch_pending_seq'), now() FROM unnest(%s::text[]) AS object_id "
                "ON CONFLICT (kind, object_id) DO UPDATE SET seq = EXCLUDED.seq, changed_at = EXCLUDED.changed_at",
                [kind, ids],
            )


def clear_pending(kind: Kind, tickets: dict[str, int]) -> None:
    """Forget the pending changes that still hold these tickets; one re-saved meanwhile drew a newer one and stays."""
    if tickets:
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {PendingChange._meta.db_table} p USING unnest(%s::text[], %s::bigint[]) AS t(object_id, "
                f"seq) "
                "WHERE p.kind = %s AND p.object_id = t.object_id AND p.seq = t.seq",
                [list(tickets), list(tickets.values()), kind],
            )


# --- bulk -----------------------------------------------------------------------------------------------------


@dataclass
class ReindexSummary:
    embedded: int = 0
    skipped: int = 0
    failed: int = 0
    removed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"embedded": self.embedded, "skipped": self.skipped, "failed": self.failed, "removed": self.removed}


def object_id_batches(kind: Kind, batch_size: int) -> Iterator[list]:
    """Primary keys of every `kind` object, in batches, by keyset pagination (stable under concurrent writes)."""
    model = registry.indexed_model(kind)
    if model is None:
        return
    queryset = model._default_manager.order_by("pk").values_list("pk", flat=True)
    last = None
    while True:
        page = list((queryset.filter(pk__gt=last) if last is not None else queryset)[:batch_size])
        if not page:
            return
        yield page
        last = page[-1]


def object_count(kind: Kind) -> int:
    model = registry.indexed_model(kind)
    return model._default_manager.count() if model is not None else 0


def remove_orphans(kind: Kind) -> int:
    """Drop documents whose object no longer exists (deleted while no worker listened)."""
    model = registry.indexed_model(kind)
    shop = Document.objects.filter(collection=SHOP_COLLECTION, kind=kind)
    if model is None:
        return shop.delete()[1].get(Document._meta.label, 0)
    existing = {str(pk) for pk in model._default_manager.values_list("pk", flat=True)}
    orphans = [oid for oid in shop.values_list("object_id", flat=True) if oid not in existing]
    return remove_documents(kind, orphans)


def reindex(
    space: EmbeddingSpace,
    kinds: Sequence[Kind] = registry.KINDS,
    batch_size: int | None = None,
    on_batch: Callable[[Kind, int], None] = lambda kind, n: None,
) -> ReindexSummary:
    """Embed every object of `kinds` that is missing or stale in `space`, batch by batch, in this process.

    Each batch commits on its own, so an interrupted run keeps its progress and a re-run resumes. A batch that fails
    is logged and counted, and the run goes on.
    """
    batch_size = batch_size or setting("REINDEX_BATCH_SIZE")
    summary = ReindexSummary()
    for kind in kinds:
        summary.removed += remove_orphans(kind)
        for ids in object_id_batches(kind, batch_size):
            try:
                embedded, skipped = index_objects(kind, ids, space)
            except Exception:  # one bad batch must not stop the run; it is reported and retried on the next run
                logger.exception("shopsearch: a %s batch failed (ids %s..%s)", kind, ids[0], ids[-1])
                summary.failed += len(ids)
            else:
                summary.embedded += embedded
                summary.skipped += skipped
            on_batch(kind, len(ids))
    if "product" in kinds:  # recounted: orphans removed above left the batches' running counts
        vocabulary.rebuild(SHOP_COLLECTION)
    analyze_tables()
    return summary


def indexed_kinds() -> tuple[str, ...]:
    return tuple(kind for kind in registry.KINDS if registry.indexed_model(kind) is not None)


def switch_to(model: str, on_batch: Callable[[str, int], None] = lambda kind, n: None) -> EmbeddingSpace:
    """Fill `model`'s space with the shop's catalogue (the active space keeps serving meanwhile), then activate it."""
    space = spaces.get_or_create_space(model)
    spaces.start_building(space)
    summary = reindex(space, indexed_kinds(), on_batch=on_batch)
    if summary.failed:
        raise SpaceError(
            f"{summary.failed} objects failed to embed into space #{space.pk} (see the log); the old space keeps "
            f"serving. Run `manage.py reindex --model {model}` to finish and switch."
        )
    spaces.activate(space)
    space.refresh_from_db()
    return space


def rollback(on_batch: Callable[[str, int], None] = lambda kind, n: None) -> dict:
    """Serve the previous space again: embed what changed in the catalogue since it served, then switch back."""
    current, previous = spaces.active_space(), spaces.previous_space()
    if previous is None:
        raise SpaceError("There is no earlier space to roll back to: no other space has ever been active.")
    try:
        encoders.get_encoder(previous.model_name)
    except ImproperlyConfigured as exc:
        raise SpaceError(
            f"Cannot roll back to space #{previous.pk}: its model {previous.model_name!r} cannot be loaded ({exc})."
        ) from exc
    space = switch_to(previous.model_name, on_batch)
    return {"active": space.pk, "model": space.model_name, "previous": current.pk if current else None}


def reconcile(grace_seconds: float | None = None, batch_size: int | None = None) -> dict[str, int]:
    """Repair whatever the task queue lost, per kind: pending changes older than RECONCILE_GRACE_SECONDS (a message
    lost with Redis, or stranded by a killed worker; younger ones have a task on its way), documents whose vector is
    missing or stale in a space that must stay current, objects with no document and documents whose object is
    gone (out_of_date). Safe beside running tasks: it indexes through index_objects, under the same locks.

    A serving space without a sentiment classifier (just switched to a new model) gets one trained from the shop's
    star ratings. Changes that bypassed the signals (queryset.update(), bulk imports) leave no trace here: `reindex`
    finds them.
    """
    grace = float(setting("RECONCILE_GRACE_SECONDS") if grace_seconds is None else grace_seconds)
    batch_size = batch_size or setting("REINDEX_BATCH_SIZE")
    young = PendingChange.objects.filter(changed_at__gt=timezone.now() - timedelta(seconds=grace))
    repaired: dict[str, int] = {}
    for kind in registry.KINDS:
        if registry.indexed_model(kind) is None:
            continue
        ids: set[str] = set()
        for space in spaces.spaces_to_update() or [spaces.ensure_active_space()]:
            ids |= spaces.out_of_date(space, [kind])[kind]
        ids -= set(young.filter(kind=kind).values_list("object_id", flat=True))
        todo = sorted(ids)
        for start in range(0, len(todo), batch_size):
            index_objects(kind, todo[start : start + batch_size])
        repaired[kind] = len(todo)
    space = spaces.active_space()
    if space is not None and sentiment.status(space) == "pending":  # switched to a new model: its reviews need labels
        try:
            sentiment.train_classifier(space)
        except SentimentError as exc:  # too few rated reviews yet: nothing to learn from
            logger.info("shopsearch: no sentiment classifier for space #%s yet: %s", space.pk, exc)
        else:
            repaired["sentiment_classifier"] = 1
    if any(repaired.values()):
        logger.info("shopsearch: reconcile repaired %s", repaired)
    return repaired


INDEX_TABLES = (
    "shopsearch_document",
    "shopsearch_embedding",
    "shopsearch_reviewvector",
    "shopsearch_word",
    "shopsearch_lexeme",
)


def analyze_tables(tables: Sequence[str] = INDEX_TABLES) -> None:
    """Refresh the planner's statistics of the tables a bulk load just filled.

    Why: until autovacuum gets to them (and never, for rows of a transaction not yet committed, as in tests), the
    planner believes them empty and picks nested loops that take seconds per query instead of milliseconds."""
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {', '.join(tables)}")


# --- collections other than the shop's (evaluation sets) ---------------------------------------------------------


def index_collection(
    collection: str,
    space: EmbeddingSpace,
    products: Sequence[tuple[str, ProductDocument]],
    batch_size: int | None = None,
    on_batch: Callable[[int], None] = lambda n: None,
    reviews: Sequence[tuple[str, ReviewDocument]] = (),
) -> tuple[int, int]:
    """Make `collection` hold exactly these (id, document) products and reviews, embedded in `space`, with the
    products' review centroids; returns (embedded, skipped).

    The same document fields, text recipe and content hashes as the shop's objects, so an evaluation measures the
    pipeline the shop runs; unchanged objects are neither rewritten nor re-embedded, so a rerun takes seconds.
    """
    if collection == SHOP_COLLECTION:
        raise ValueError("index_collection is for collections other than the shop's; the shop is indexed by reindex()")
    batch_size = batch_size or setting("REINDEX_BATCH_SIZE")
    embedded = skipped = 0
    for kind, objects in (("product", products), ("review", reviews)):
        wanted = {object_id: _document_fields(kind, doc) for object_id, doc in objects}
        existing = Document.objects.filter(collection=collection, kind=kind)
        known = {
            oid: (text_hash, facets)
            for oid, text_hash, facets in existing.values_list("object_id", "content_hash", "facets")
        }
        existing.exclude(object_id__in=list(wanted)).delete()
        changed = [
            oid for oid, values in wanted.items() if known.get(oid) != (values["content_hash"], values["facets"])
        ]
        for start in range(0, len(changed), 1000):
            Document.objects.bulk_create(
                [
                    Document(collection=collection, kind=kind, object_id=oid, **wanted[oid])
                    for oid in changed[start : start + 1000]
                ],
                update_conflicts=True,
                unique_fields=["collection", "kind", "object_id"],
                update_fields=[*next(iter(wanted.values())), "updated_at"],
            )
        ids = list(existing.order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(ids), batch_size):
            with transaction.atomic():
                done, unchanged = embed_documents(
                    space, list(Document.objects.filter(pk__in=ids[start : start + batch_size]))
                )
            embedded, skipped = embedded + done, skipped + unchanged
            if kind == "product":
                on_batch(done + unchanged)
    vocabulary.rebuild(collection)
    # before the centroids: their joins over just-loaded tables otherwise plan as if empty
    analyze_tables(("shopsearch_document", "shopsearch_embedding", "shopsearch_word", "shopsearch_lexeme"))
    product_ids = [oid for oid, _ in products]
    for start in range(0, len(product_ids), 1000):
        refresh_review_vectors(space, product_ids[start : start + 1000], collection)
    analyze_tables(("shopsearch_reviewvector",))
    return embedded, skipped
