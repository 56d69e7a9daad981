"""The embedding map: the active space's product vectors drawn in two dimensions, for the owner to look at.

A map is a PCA projection (scikit-learn) fitted on one space's product vectors and stored with that space
(`EmbeddingMap`: the vectors' mean, the two components, the share of the variance each keeps, and every product's
coordinates), computed by a console job (`compute`). PCA because the search box must drop a query onto the same map:
a fitted PCA is a stored linear map, applied to the query's vector in the web request with one matrix product
(`project`). The alternatives were measured on this machine: umap-learn installs beside the pinned stack, but
`import umap` took 10.8 s (100 s on its first run, compiling), fitting 1,179 products 61 s and its first transform
of a query 15 s — too slow for a web request; t-SNE has no transform at all, so a query could only be placed near
its neighbours, not by the projection that drew the products.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from django.db.models import Avg, Count
from django.utils import timezone

from . import search
from .exceptions import MapError
from .models import SHOP_COLLECTION, Document, Embedding, EmbeddingMap, EmbeddingSpace

METHOD = "pca"


def product_vectors(space: EmbeddingSpace, collection: str = SHOP_COLLECTION) -> tuple[list[str], np.ndarray]:
    """The collection's (the shop's) product ids and their vectors in `space`, in id order."""
    rows = (
        Embedding.objects.filter(space=space, kind="product", document__collection=collection)
        .order_by("document__object_id")
        .values_list("document__object_id", "vector")
    )
    ids, vectors = [], []
    for object_id, vector in rows.iterator(chunk_size=2000):
        ids.append(object_id)
        vectors.append(np.asarray(vector, dtype=np.float32))
    return ids, np.asarray(vectors, dtype=np.float32).reshape(len(ids), space.dimensions)


def compute(
    space: EmbeddingSpace,
    on_step: Callable[[int, str], None] = lambda done, message: None,
    collection: str = SHOP_COLLECTION,
) -> EmbeddingMap:
    """Fit the projection on the space's product vectors and store it with every product's coordinates (replacing
    the space's earlier map). MapError with fewer than 3 products (two points need no map). `collection`: another
    catalogue's products instead of the shop's (benchmarks/embedding_map.py times an evaluation set's)."""
    from sklearn.decomposition import PCA
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    on_step(0, "reading the product vectors")
    ids, vectors = product_vectors(space, collection)
    if len(ids) < 3:
        raise MapError(f"Space #{space.pk} has {len(ids)} product vectors; a map needs at least 3: reindex first.")
    on_step(1, f"fitting the projection on {len(ids)} products")
    # one BLAS thread: two components of a few thousand rows need no more, and on 2 busy cores BLAS's own threads
    # fighting the worker's took the 1,179-product fit from 0.7 s to 38.7 s (measured, load average 24)
    with threadpool_limits(limits=1):
        pca = PCA(n_components=2, svd_solver="full").fit(vectors)
        coordinates = pca.transform(vectors)
    seconds = round(time.perf_counter() - started, 3)
    fields = {
        "method": METHOD,
        "mean": [float(x) for x in pca.mean_],
        "components": pca.components_.astype(float).tolist(),
        "explained_variance": [round(float(x), 4) for x in pca.explained_variance_ratio_],
        "points": [
            [object_id, round(float(x), 5), round(float(y), 5)]
            for object_id, (x, y) in zip(ids, coordinates, strict=True)
        ],
        "products": len(ids),
        "seconds": seconds,
        "created_at": timezone.now(),
    }
    space_map, _ = EmbeddingMap.objects.update_or_create(space=space, defaults=fields)
    return space_map


def project(space_map: EmbeddingMap, vector: np.ndarray) -> tuple[float, float]:
    """Where a vector of the map's space lands on the map: the fitted projection itself, (v − mean) · componentsᵀ."""
    x, y = (np.asarray(vector, dtype=np.float64) - np.asarray(space_map.mean)) @ np.asarray(space_map.components).T
    return float(x), float(y)


def project_query(space_map: EmbeddingMap, query: str, nearest: int = 5, collection: str = SHOP_COLLECTION) -> dict:
    """A search query's point on the map, and its `nearest` products by cosine in the full space (on a 2-D map
    nearness is only approximate: the page marks them so the owner sees the difference). `collection`: the one the
    map was computed from (as in `compute`)."""
    space = space_map.space
    vector = search.encode_query(space, query)
    x, y = project(space_map, vector)
    ranked = search.nearest_products(space, vector, search.Filters(), nearest, collection=collection)
    ids = dict(Document.objects.filter(pk__in=[doc_id for doc_id, _ in ranked]).values_list("pk", "object_id"))
    return {
        "query": query,
        "x": round(x, 5),
        "y": round(y, 5),
        "nearest": [ids[doc_id] for doc_id, _ in ranked if doc_id in ids],
    }


def points(space_map: EmbeddingMap) -> list[dict]:
    """What the page draws: each mapped product still in the shop, with its title, category and review sentiment
    (the mean score in [-1, 1] of its labelled reviews now, None without any)."""
    documents = {
        object_id: (title, category)
        for object_id, title, category in Document.objects.filter(
            collection=SHOP_COLLECTION, kind="product"
        ).values_list("object_id", "title", "category")
    }
    sentiment = {
        row["document__product_id"]: row
        for row in Embedding.objects.filter(
            space=space_map.space_id, kind="review", document__collection=SHOP_COLLECTION, sentiment_score__isnull=False
        )
        .values("document__product_id")
        .annotate(mean=Avg("sentiment_score"), reviews=Count("id"))
    }
    drawn = []
    for object_id, x, y in space_map.points:
        if object_id not in documents:
            continue  # deleted since the map was computed
        title, category = documents[object_id]
        mood = sentiment.get(object_id)
        drawn.append(
            {
                "id": object_id,
                "x": x,
                "y": y,
                "title": title,
                "category": category or "",
                "sentiment": round(mood["mean"], 3) if mood else None,
                "reviews": mood["reviews"] if mood else 0,
            }
        )
    return drawn


def current(space: EmbeddingSpace | None) -> EmbeddingMap | None:
    return EmbeddingMap.objects.filter(space=space).first() if space is not None else None
