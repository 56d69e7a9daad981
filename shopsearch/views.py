"""The shopper's pages: the storefront search page and the product page.

Both are server-rendered shells whose scripts (static/shopsearch/) call the REST API from the browser: the storefront
searches as the shopper types, the product page asks for aspects, answers from reviews and similar products. What
the product page shows first (the product's own facts, its star counts and share positive) is read here, from
shopsearch's documents and the review labels the workers keep, so it never waits for sentence analysis.
"""
from __future__ import annotations

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from . import indexing, review_insights, search
from .models import SHOP_COLLECTION, Document


def storefront(request: HttpRequest) -> HttpResponse:
    """The search page; review-aware matching is on wherever the shop has reviews."""
    has_reviews = Document.objects.filter(collection=SHOP_COLLECTION, kind="review").exists()
    return render(request, "shopsearch/storefront.html", {"categories": search.categories(), "reviews": has_reviews})


def product_page(request: HttpRequest, product_id: str) -> HttpResponse:
    """One product: its facts, how many reviews gave each star, and what the labelled reviews say overall."""
    product = Document.objects.filter(collection=SHOP_COLLECTION, kind="product", object_id=product_id).first()
    if product is None:
        return render(request, "shopsearch/product_missing.html", {"product_id": product_id}, status=404)
    stars = dict(
        Document.objects.filter(collection=SHOP_COLLECTION, kind="review", product_id=product_id, rating__isnull=False)
        .values_list("rating").annotate(n=Count("pk")).values_list("rating", "n")
    )
    rated = sum(stars.values())
    space = indexing.active_space()
    summary = review_insights.product_summary(space, product_id) if space is not None else None
    context = {
        "product": product,
        "attributes": sorted((str(key), value) for key, value in (product.attributes or {}).items() if value not in (None, "", [])),
        "rated": rated,
        "mean_rating": sum(star * n for star, n in stars.items()) / rated if rated else None,
        "stars": [{"star": star, "count": stars.get(star, 0), "percent": round(100 * stars.get(star, 0) / rated) if rated else 0} for star in range(5, 0, -1)],
        "summary": summary,
    }
    return render(request, "shopsearch/product.html", context)
