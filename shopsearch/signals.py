"""Saves and deletes of the indexed models leave a pending change in their own transaction and enqueue indexing
after it commits (never for a rollback); deleting an embedding space drops its HNSW indexes."""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_delete, post_save

from . import indexing, registry, spaces, tasks
from .models import EmbeddingSpace


def _on_change(sender, instance, raw: bool = False, **_kwargs) -> None:
    """A save or delete: note the change in the same transaction, and send the task once it commits. Both go through
    index_objects, which reads the object as it is then (gone: its documents and vectors go too)."""
    if raw:  # loaddata: no side effects
        return
    kind = registry.kind_of(sender)
    pk = str(instance.pk)
    indexing.record_changes(kind, [pk])
    transaction.on_commit(lambda: tasks.enqueue(tasks.index_objects, kind, [pk]))


def _on_space_delete(sender, instance: EmbeddingSpace, **_kwargs) -> None:
    spaces.drop_space_indexes(instance)  # a deleted space's partial HNSW indexes would only cost writes


def connect() -> None:
    """Connect the handlers for every configured model (called from AppConfig.ready)."""
    post_delete.connect(_on_space_delete, sender=EmbeddingSpace, dispatch_uid="shopsearch_space_delete")
    for kind in registry.KINDS:
        model = registry.indexed_model(kind)
        if model is not None:
            post_save.connect(_on_change, sender=model, dispatch_uid=f"shopsearch_save_{kind}")
            post_delete.connect(_on_change, sender=model, dispatch_uid=f"shopsearch_delete_{kind}")
