"""The embedding-space lifecycle, and the one function that turns texts into a space's vectors.

A space is one model (by identity) under one text recipe: its vectors never mix with another's. Exactly one space
serves queries (`active_space`); a new one is built beside it (status "building": every save is embedded into it
too, `spaces_to_update`), switched to in one transaction once nothing is missing (`activate`), and the one before
stays for a roll back (`previous_space`) until it is retired. Every "which space serves" question is answered here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from django.db import connection, transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from . import encoders, registry, sql
from .conf import setting
from .exceptions import NotReady, SpaceError
from .models import SHOP_COLLECTION, Document, Embedding, EmbeddingSpace, PendingChange, ReviewVector
from .registry import Kind

logger = logging.getLogger(__name__)


# --- which space serves -------------------------------------------------------------------------------------------


def active_space() -> EmbeddingSpace | None:
    """The space queries use now; None before the first reindex."""
    return EmbeddingSpace.objects.filter(is_active=True).first()


def require_active_space() -> EmbeddingSpace:
    """The serving space; NotReady (409 in the API) before the first reindex."""
    space = EmbeddingSpace.objects.filter(is_active=True).first()
    if space is None:
        raise NotReady("The search index is empty: run `python manage.py reindex` first.")
    return space


def previous_space() -> EmbeddingSpace | None:
    """The space that served before the active one (the most recently activated inactive space)."""
    return EmbeddingSpace.objects.filter(is_active=False, activated_at__isnull=False).order_by("-activated_at").first()


def spaces_to_update() -> list[EmbeddingSpace]:
    """Spaces a changed object must be written to: the active one and any being built (so none misses an edit)."""
    return list(EmbeddingSpace.objects.filter(Q(is_active=True) | Q(status=EmbeddingSpace.Status.BUILDING)))


# --- lifecycle ---------------------------------------------------------------------------------------------------


def get_or_create_space(model_name: str) -> EmbeddingSpace:
    """The space for `model_name` under the current text recipe and VECTOR_TYPE, created (with its HNSW indexes) if
    new: a space's vector type never changes, so switching it builds another space, as a model change does."""
    identity = encoders.model_identity(model_name)
    recipe, vector_type = registry.recipe_version(), configured_vector_type()
    space = EmbeddingSpace.objects.filter(model_identity=identity, recipe=recipe, vector_type=vector_type).first()
    if space is not None:
        return space
    dimensions = encoders.get_encoder(model_name).dimensions
    with transaction.atomic():
        space, created = EmbeddingSpace.objects.get_or_create(
            model_identity=identity,
            dimensions=dimensions,
            recipe=recipe,
            vector_type=vector_type,
            defaults={"model_name": model_name},
        )
        if created:
            create_space_indexes(space)
    return space


def configured_vector_type() -> str:
    """SHOPSEARCH["VECTOR_TYPE"], checked: new spaces are created with it."""
    vector_type = setting("VECTOR_TYPE")
    if vector_type not in EmbeddingSpace.VectorType.values:
        raise SpaceError(
            f"SHOPSEARCH['VECTOR_TYPE'] = {vector_type!r} is not a vector type; write one of "
            f"{', '.join(map(repr, EmbeddingSpace.VectorType.values))}."
        )
    return vector_type


def ensure_active_space() -> EmbeddingSpace:
    """The active space; on a fresh install, the configured model's space, activated at once (it is empty)."""
    space = active_space()
    if space is not None:
        return space
    space = get_or_create_space(encoders.configured_model())
    with transaction.atomic():
        if not EmbeddingSpace.objects.filter(is_active=True).exists():
            EmbeddingSpace.objects.filter(pk=space.pk).update(
                is_active=True, status=EmbeddingSpace.Status.READY, activated_at=timezone.now()
            )
    return active_space()


def start_building(space: EmbeddingSpace) -> None:
    """Mark a space that does not serve as being built: every save is embedded into it too until it is switched to."""
    EmbeddingSpace.objects.filter(pk=space.pk, is_active=False).exclude(status=EmbeddingSpace.Status.BUILDING).update(
        status=EmbeddingSpace.Status.BUILDING
    )


def activate(space: EmbeddingSpace, *, allow_incomplete: bool = False) -> None:
    """Make `space` the one queries use, in one transaction. Refuses while documents still lack vectors."""
    missing = missing_count(space)
    if missing and not allow_incomplete:
        raise SpaceError(
            f"Space #{space.pk} ({space.model_identity}) still lacks {missing} vectors; run "
            f"`manage.py reindex --model {space.model_name}` to finish it before switching."
        )
    with transaction.atomic():
        EmbeddingSpace.objects.filter(is_active=True).exclude(pk=space.pk).update(is_active=False)
        EmbeddingSpace.objects.filter(pk=space.pk).update(
            is_active=True, status=EmbeddingSpace.Status.READY, activated_at=timezone.now()
        )
    logger.info("shopsearch: space #%s (%s) is now active", space.pk, space.model_identity)


def retire(space: EmbeddingSpace) -> None:
    """Stop keeping `space` current: an abandoned build otherwise has every save embedded into it too. Its vectors stay
    (`reindex --model` takes it up again); the serving space cannot be retired."""
    if space.is_active:
        raise SpaceError(
            f"Space #{space.pk} ({space.model_identity}) serves search; switch to another space before retiring it."
        )
    EmbeddingSpace.objects.filter(pk=space.pk).update(status=EmbeddingSpace.Status.RETIRED)
    logger.info("shopsearch: space #%s (%s) is retired", space.pk, space.model_identity)


def finish_unactivated(model: str) -> None:
    """A space that was evaluated but not switched on stops taking the shop's edits (`reindex --model` resumes it)."""
    EmbeddingSpace.objects.filter(model_identity=encoders.model_identity(model), is_active=False).update(
        status=EmbeddingSpace.Status.RETIRED
    )


# --- HNSW indexes of a space ------------------------------------------------------------------------------------


def create_space_indexes(space: EmbeddingSpace) -> None:
    """One partial HNSW (cosine) index per kind for this space, on the vector cast to the space's type and dimensions
    (sql.indexed: the expression every distance repeats)."""
    with connection.cursor() as cursor:
        # Deferred foreign-key checks still pending in this transaction would block CREATE INDEX: run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for kind in registry.KINDS:
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {index_name(space, kind)} ON {Embedding._meta.db_table} "
                f"USING hnsw (({sql.indexed('vector', space)}) {sql.cosine_ops(space)}) "
                f"WITH (m = {int(setting('HNSW_M'))}, ef_construction = {int(setting('HNSW_EF_CONSTRUCTION'))}) "
                f"WHERE space_id = {int(space.pk)} AND kind = '{kind}'"
            )
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS {review_vector_index_name(space)} ON {ReviewVector._meta.db_table} "
            f"USING hnsw (({sql.indexed('vector', space)}) {sql.cosine_ops(space)}) "
            f"WITH (m = {int(setting('HNSW_M'))}, ef_construction = {int(setting('HNSW_EF_CONSTRUCTION'))}) "
            f"WHERE space_id = {int(space.pk)}"
        )


def drop_space_indexes(space: EmbeddingSpace) -> None:
    with connection.cursor() as cursor:
        for kind in registry.KINDS:
            cursor.execute(f"DROP INDEX IF EXISTS {index_name(space, kind)}")
        cursor.execute(f"DROP INDEX IF EXISTS {review_vector_index_name(space)}")


def index_name(space: EmbeddingSpace, kind: Kind) -> str:
    return f"shopsearch_hnsw_s{int(space.pk)}_{kind}"


def review_vector_index_name(space: EmbeddingSpace) -> str:
    return f"shopsearch_hnsw_s{int(space.pk)}_review_centroid"


# --- what is missing ---------------------------------------------------------------------------------------------


def out_of_date(space: EmbeddingSpace, kinds: Sequence[Kind] = registry.KINDS) -> dict[Kind, set[str]]:
    """Ids of the shop's objects of `kinds` whose index in `space` is behind the shop: no up-to-date vector, a
    change not applied yet (PendingChange, also while its task runs), or no document at all (saved while no signal
    fired or a document function failed) — and documents whose object is gone. What `reconcile` repairs."""
    fresh = Embedding.objects.filter(space=space, document=OuterRef("pk"), content_hash=OuterRef("content_hash"))
    behind: dict[Kind, set[str]] = {}
    for kind in kinds:
        shop = Document.objects.filter(collection=SHOP_COLLECTION, kind=kind)
        ids = set(shop.exclude(pk__in=Subquery(fresh.values("document"))).values_list("object_id", flat=True))
        ids |= set(PendingChange.objects.filter(kind=kind).values_list("object_id", flat=True))
        model = registry.indexed_model(kind)
        objects = (
            {str(pk) for pk in model._default_manager.values_list("pk", flat=True)} if model is not None else set()
        )
        behind[kind] = ids | (objects ^ set(shop.values_list("object_id", flat=True)))
    return behind


def missing_count(space: EmbeddingSpace, kinds: Sequence[Kind] = registry.KINDS) -> int:
    """How many of the shop's objects of `kinds` are not searchable as they are now in `space` (out_of_date)."""
    return sum(len(ids) for ids in out_of_date(space, kinds).values())


# --- vectors ------------------------------------------------------------------------------------------------------


def encode_texts(space: EmbeddingSpace, texts: Sequence[str]) -> np.ndarray:
    """Vectors of `texts` in `space`. A text already embedded there (a duplicate product, another collection, a
    review file that repeats the shop's reviews) is read back by its content hash instead of encoded again."""
    hashes = [registry.content_hash(text) for text in texts]
    known: dict[str, np.ndarray] = {}
    for start in range(0, len(hashes), 5000):
        known.update(
            Embedding.objects.filter(space=space, content_hash__in=set(hashes[start : start + 5000])).values_list(
                "content_hash", "vector"
            )
        )
    todo = {digest: text for digest, text in zip(hashes, texts, strict=True) if digest not in known}
    if todo:
        known.update(zip(todo, encoders.get_encoder(space.model_name).encode(list(todo.values())), strict=True))
    return np.asarray([np.asarray(known[digest], dtype=np.float32) for digest in hashes]).reshape(
        len(texts), space.dimensions
    )
