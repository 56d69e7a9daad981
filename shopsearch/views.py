"""The shopper's pages: the storefront search page and the product page.

Both are server-rendered shells whose scripts (static/shopsearch/) call the REST API from the browser: the storefront
searches as the shopper types, the product page asks for answers from reviews and similar products. The rest of the
product page is drawn here in one response: the product's facts, its star counts, and what its reviews say (share
positive, monthly trend, aspects, which way the size errs) from the sentiment answer the worker computed and cached
when it analysed the reviews (review_insights.product_sentiment), and "shoppers also viewed" from the events.
"""

from __future__ import annotations

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from . import recommend, review_insights, search, spaces
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
        .values_list("rating")
        .annotate(n=Count("pk"))
        .values_list("rating", "n")
    )
    rated = sum(stars.values())
    space = spaces.active_space()
    insights = review_insights.product_sentiment(space, product_id) if space is not None else None
    context = {
        "product": product,
        "attributes": sorted(
            (str(key), value) for key, value in (product.attributes or {}).items() if value not in (None, "", [])
        ),
        "rated": rated,
        "mean_rating": sum(star * n for star, n in stars.items()) / rated if rated else None,
        "stars": [
            {
                "star": star,
                "count": stars.get(star, 0),
                "percent": round(100 * stars.get(star, 0) / rated) if rated else 0,
            }
            for star in range(5, 0, -1)
        ],
        "summary": insights,
        **(_review_context(insights) if insights else {}),
        "trend": _trend(review_insights.rating_months(product_id)),
        "also_viewed": recommend.also_viewed(product_id, limit=ALSO_VIEWED_SHOWN),
    }
    return render(request, "shopsearch/product.html", context)


ASPECTS_SHOWN, EXAMPLES_SHOWN, TREND_MONTHS_SHOWN, ALSO_VIEWED_SHOWN = 8, 2, 12, 6


def _percent(share: float) -> int:
    return round(100 * share)


def _review_context(insights: dict) -> dict:
    """What the page draws from the sentiment answer: the aspects reviewers talk about most (share positive and
    negative, two example sentences each) and which way the size errs."""
    talked = sorted((a for a in insights["aspects"] if a["mentions"]), key=lambda a: -a["mentions"])[:ASPECTS_SHOWN]
    aspects = [
        {
            **a,
            "positive": _percent(a["share_positive"]),
            "negative": _percent(a["share_negative"]),
            "examples": a["examples"][:EXAMPLES_SHOWN],
        }
        for a in talked
    ]
    fit = insights.get("fit") or {}
    return {
        "aspects": aspects,
        "fit": {**fit, "example": fit["examples"].get(fit["verdict"])} if fit.get("reviews_saying") else None,
    }


def _trend(months: list[dict]) -> list[dict]:
    """The last months' mean ratings, where the reviews' dates span at least two months (one month is no trend: the
    demo's reviews carry only their import date)."""
    return (
        [{**month, "percent": round(20 * month["mean_rating"])} for month in months[-TREND_MONTHS_SHOWN:]]
        if len(months) >= 2
        else []
    )
