"""Thin DRF views: validate parameters with a serializer, call one service function, serialize the result."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import recommend, reviews, search
from ..models import Document
from . import serializers


class StillIndexing(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "not_indexed"


class SearchView(APIView):
    """Search products by keywords, by meaning or both (hybrid), with filters, facets, highlights and pagination."""

    @extend_schema(parameters=[serializers.SearchParams], responses=serializers.SearchResponseSerializer)
    def get(self, request: Request) -> Response:
        params = serializers.SearchParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        try:
            page = search.search_products(
                data["q"], data["mode"], params.filters(), page=data["page"], page_size=data["page_size"], explain=data["explain"],
                reviews=data["reviews"], sort=data["sort"],
            )
        except search.NotReady as exc:
            raise StillIndexing(str(exc)) from exc
        body = {"query": data["q"], "mode": data["mode"], "page": page.page, "page_size": page.page_size, "has_next": page.has_next,
                "total": page.total, "results": page.hits, "facets": page.facets}
        return Response(serializers.SearchResponseSerializer(body).data)


def recommendations(call, *args, **kwargs) -> list:
    """Run a recommend.py function, mapping an unknown product to 404 and a missing vector or index to 409."""
    try:
        return call(*args, **kwargs)
    except recommend.UnknownProduct as exc:
        raise NotFound(str(exc)) from exc
    except search.NotReady as exc:
        raise StillIndexing(str(exc)) from exc


class SimilarProductsView(APIView):
    """Products similar to this one: nearest by text, blended with what reviews say where both have reviews."""

    @extend_schema(parameters=[serializers.SimilarParams], responses=serializers.SimilarResponseSerializer)
    def get(self, request: Request, product_id: str) -> Response:
        params = serializers.SimilarParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        hits = recommendations(
            recommend.similar_products, product_id, params.filters(), limit=data.get("limit"), same_category=data["same_category"], diversity=data["diversity"]
        )
        return Response(serializers.SimilarResponseSerializer({"product": product_id, "results": hits}).data)


class RecommendationsView(APIView):
    """More like the positive examples, less like the negative ones (strategies average and best_score)."""

    @extend_schema(request=serializers.RecommendationParams, responses=serializers.RecommendationsResponseSerializer)
    def post(self, request: Request) -> Response:
        params = serializers.RecommendationParams(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        hits = recommendations(
            recommend.recommend, data["positive"], data["negative"], data["strategy"], serializers.to_filters(data.get("filters", {})), data.get("limit")
        )
        return Response(serializers.RecommendationsResponseSerializer({"results": hits}).data)


class EventsView(APIView):
    """Record shopper events (one object or a list of up to MAX_EVENTS_PER_REQUEST): all are stored, or none."""

    @extend_schema(request=serializers.EventSerializer(many=True), responses={201: serializers.EventsStoredSerializer})
    def post(self, request: Request) -> Response:
        batch = serializers.EventBatch(data={"events": request.data if isinstance(request.data, list) else [request.data]})
        batch.is_valid(raise_exception=True)
        stored = recommend.record_events(batch.validated_data["events"])
        return Response(serializers.EventsStoredSerializer({"stored": stored}).data, status=status.HTTP_201_CREATED)


class SessionRecommendationsView(APIView):
    """Recommendations from a session's recent views (most recent count most), never what it has already seen."""

    @extend_schema(parameters=[serializers.SessionParams], responses=serializers.RecommendationsResponseSerializer)
    def get(self, request: Request) -> Response:
        params = serializers.SessionParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        hits = recommendations(recommend.for_session, params.validated_data["session"], params.filters(), params.validated_data.get("limit"))
        return Response(serializers.RecommendationsResponseSerializer({"results": hits}).data)


class TrendingView(APIView):
    """Products with the most recent events (time-decayed, weighted by event type), with the search filters."""

    @extend_schema(parameters=[serializers.TrendingParams], responses=serializers.RecommendationsResponseSerializer)
    def get(self, request: Request) -> Response:
        params = serializers.TrendingParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        hits = recommendations(recommend.trending, params.filters(), params.validated_data.get("days"), params.validated_data.get("limit"))
        return Response(serializers.RecommendationsResponseSerializer({"results": hits}).data)


def _product_space(product_id: str):
    """The active space, once `product_id` is known to be an indexed product (404 otherwise, 409 before indexing)."""
    if not Document.objects.filter(collection="", kind="product", object_id=str(product_id)).exists():
        raise NotFound(f"No indexed product with id {product_id!r}.")
    try:
        return search.require_active_space()
    except search.NotReady as exc:
        raise StillIndexing(str(exc)) from exc


class ProductSentimentView(APIView):
    """What a product's reviews say: sentiment counts, share positive, mean score, monthly trend, helpful snippets,
    and per aspect (configured and discovered) the sentences that talk about it and their sentiment."""

    @extend_schema(parameters=[serializers.SentimentParams], responses=serializers.ProductSentimentSerializer)
    def get(self, request: Request, product_id: str) -> Response:
        space = _product_space(product_id)
        params = serializers.SentimentParams(data=request.query_params, context={"space": space})
        params.is_valid(raise_exception=True)
        summary = reviews.product_sentiment(space, product_id, params.validated_data.get("aspect"))
        return Response(serializers.ProductSentimentSerializer(summary).data)


class ProductReviewSearchView(APIView):
    """Search inside one product's reviews by meaning: reviews ranked by their sentence closest to `q`, that
    sentence highlighted."""

    @extend_schema(parameters=[serializers.ReviewSearchParams], responses=serializers.ReviewSearchResponseSerializer)
    def get(self, request: Request, product_id: str) -> Response:
        space = _product_space(product_id)
        params = serializers.ReviewSearchParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        hits, has_next = reviews.search_reviews(space, product_id, data["q"], data["page"], data["page_size"], data.get("rating"))
        body = {"product": product_id, "query": data["q"], "page": data["page"], "page_size": data["page_size"], "has_next": has_next, "results": hits}
        return Response(serializers.ReviewSearchResponseSerializer(body).data)
