"""Thin DRF views: validate parameters with a serializer, call one service function, serialize the result.

The API is public and anonymous: no authentication at all (a bogus `Authorization` header costs nothing: no
password is ever hashed), request rates per client and per session (throttling.py), JSON bodies only. Each view
documents every status it can answer with its error body (`responses`)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import parsers, status
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import recommend, review_insights, search, spaces
from ..conf import setting
from ..models import Document
from ..routers import replica_reads
from . import serializers
from .throttling import ClientRateThrottle, NewSessionRateThrottle, SessionRateThrottle


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; a body nested deeper than Python's decoder goes is a 400 like any other malformed body."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - the body is nested too deeply.") from exc


class PublicAPIView(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = (ClientRateThrottle,)
    parser_classes = (JSONParser,)


ERRORS = {
    400: "A parameter or the body is invalid: `detail` names it.",
    404: "No indexed product has this id.",
    409: "The index (or this product's vector) is still being built: try again shortly.",
    415: "The body is not JSON (send Content-Type: application/json).",
    429: "Too many requests from this client or session: wait the seconds in Retry-After.",
    503: "The database is unavailable: try again after the seconds in Retry-After.",
}


def responses(ok: dict, *errors: int) -> dict:
    """The schema's answers of one operation: its success body and each error it can give (400, 429, 503 always)."""
    codes = sorted({400, 429, 503, *errors})
    return {**ok, **{code: OpenApiResponse(serializers.ErrorSerializer, description=ERRORS[code]) for code in codes}}


class SearchView(PublicAPIView):
    """Search products by keywords, by meaning or both (hybrid), with filters, facets, highlights and pagination."""

    @extend_schema(
        parameters=[serializers.SearchParams], responses=responses({200: serializers.SearchResponseSerializer}, 409)
    )
    @replica_reads()
    def get(self, request: Request) -> Response:
        params = serializers.SearchParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        page = search.search_products(
            data["q"],
            data["mode"],
            params.filters(),
            page=data["page"],
            page_size=data["page_size"],
            explain=data["explain"],
            reviews=data["reviews"],
            sort=data["sort"],
            understand=data["understand"],
            session_id=data.get("session", ""),
        )
        body = {
            "query": data["q"],
            "mode": data["mode"],
            "page": page.page,
            "page_size": page.page_size,
            "has_next": page.has_next,
            "total": page.total,
            "match": page.match,
            "relevance": page.relevance,
            "corrected_query": page.corrected_query,
            "understood": page.understood,
            "results": page.hits,
            "facets": page.facets,
        }
        return Response(serializers.SearchResponseSerializer(body).data)


class SimilarProductsView(PublicAPIView):
    """Products similar to this one: nearest by text, blended with what reviews say where both have reviews."""

    @extend_schema(
        parameters=[serializers.SimilarParams],
        responses=responses({200: serializers.SimilarResponseSerializer}, 404, 409),
    )
    @replica_reads()
    def get(self, request: Request, product_id: str) -> Response:
        params = serializers.SimilarParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        hits = recommend.similar_products(
            product_id,
            params.filters(),
            limit=data.get("limit"),
            same_category=data["same_category"],
            diversity=data["diversity"],
        )
        return Response(serializers.SimilarResponseSerializer({"product": product_id, "results": hits}).data)


class RecommendationsView(PublicAPIView):
    """More like the positive examples, less like the negative ones (strategies average and best_score)."""

    @extend_schema(
        request=serializers.RecommendationParams,
        responses=responses({200: serializers.RecommendationsResponseSerializer}, 404, 409, 415),
    )
    @replica_reads()
    def post(self, request: Request) -> Response:
        params = serializers.RecommendationParams(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        hits = recommend.recommend(
            data["positive"],
            data["negative"],
            data["strategy"],
            serializers.to_filters(data.get("filters", {})),
            data.get("limit"),
        )
        return Response(serializers.RecommendationsResponseSerializer({"results": hits}).data)


class SessionsView(PublicAPIView):
    """A new shopper session id, signed by the server: send it with the shopper's events and to for-session
    recommendations. Nobody without it can read that session's recommendations or post events in its name."""

    throttle_classes = (ClientRateThrottle, NewSessionRateThrottle)

    @extend_schema(request=None, responses=responses({201: serializers.SessionSerializer}))
    def post(self, request: Request) -> Response:
        return Response(
            serializers.SessionSerializer({"session": recommend.new_session()}).data, status=status.HTTP_201_CREATED
        )


class EventsView(PublicAPIView):
    """Record shopper events (one object or a list of up to MAX_EVENTS_PER_REQUEST) about indexed products, each
    with a session id from POST /api/sessions/: all are stored, or none."""

    throttle_classes = (ClientRateThrottle, SessionRateThrottle)

    def throttled_sessions(self, request: Request) -> list[str]:
        """The valid sessions the body names (at most MAX_EVENTS_PER_REQUEST are looked at; the rest is a 400)."""
        items = request.data if isinstance(request.data, list) else [request.data]
        signed = [
            item.get("session_id") for item in items[: setting("MAX_EVENTS_PER_REQUEST")] if isinstance(item, dict)
        ]
        return sorted(recommend.valid_session_keys(signed))  # invalid ones: the serializer's 400

    @extend_schema(
        request=serializers.EventSerializer(many=True),
        responses=responses({201: serializers.EventsStoredSerializer}, 415),
    )
    def post(self, request: Request) -> Response:
        batch = serializers.EventBatch(
            data={"events": request.data if isinstance(request.data, list) else [request.data]}
        )
        batch.is_valid(raise_exception=True)
        stored = recommend.record_events(batch.validated_data["events"])
        return Response(serializers.EventsStoredSerializer({"stored": stored}).data, status=status.HTTP_201_CREATED)


class SessionRecommendationsView(PublicAPIView):
    """Recommendations from a session's recent views (most recent count most), never what it has already seen."""

    throttle_classes = (ClientRateThrottle, SessionRateThrottle)

    def throttled_sessions(self, request: Request) -> list[str]:
        return sorted(recommend.valid_session_keys([request.query_params.get("session")]))

    @extend_schema(
        parameters=[serializers.SessionParams],
        responses=responses({200: serializers.RecommendationsResponseSerializer}, 409),
    )
    @replica_reads()
    def get(self, request: Request) -> Response:
        params = serializers.SessionParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        hits = recommend.for_session(
            params.validated_data["session"], params.filters(), params.validated_data.get("limit")
        )
        return Response(serializers.RecommendationsResponseSerializer({"results": hits}).data)


class TrendingView(PublicAPIView):
    """Products with the most recent events (time-decayed, weighted by event type), with the search filters."""

    @extend_schema(
        parameters=[serializers.TrendingParams],
        responses=responses({200: serializers.RecommendationsResponseSerializer}),
    )
    @replica_reads()
    def get(self, request: Request) -> Response:
        params = serializers.TrendingParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        hits = recommend.trending(
            params.filters(), params.validated_data.get("days"), params.validated_data.get("limit")
        )
        return Response(serializers.RecommendationsResponseSerializer({"results": hits}).data)


def _product_space(product_id: str):
    """The active space, once `product_id` is known to be an indexed product (404 otherwise, 409 before indexing)."""
    if not Document.objects.filter(collection="", kind="product", object_id=str(product_id)).exists():
        raise NotFound(f"No indexed product with id {product_id!r}.")
    return spaces.require_active_space()


class ProductSentimentView(PublicAPIView):
    """What a product's reviews say: sentiment counts, share positive, mean score, monthly trend, helpful snippets,
    and per aspect (configured and discovered) the sentences that talk about it and their sentiment."""

    @extend_schema(
        parameters=[serializers.SentimentParams],
        responses=responses({200: serializers.ProductSentimentSerializer}, 404, 409),
    )
    def get(self, request: Request, product_id: str) -> Response:
        space = _product_space(product_id)
        params = serializers.SentimentParams(data=request.query_params, context={"space": space})
        params.is_valid(raise_exception=True)
        summary = review_insights.product_sentiment(space, product_id, params.validated_data.get("aspect"))
        return Response(serializers.ProductSentimentSerializer(summary).data)


class ProductReviewSearchView(PublicAPIView):
    """Search inside one product's reviews by meaning: reviews ranked by their sentence closest to `q`, that
    sentence highlighted."""

    @extend_schema(
        parameters=[serializers.ReviewSearchParams],
        responses=responses({200: serializers.ReviewSearchResponseSerializer}, 404, 409),
    )
    def get(self, request: Request, product_id: str) -> Response:
        space = _product_space(product_id)
        params = serializers.ReviewSearchParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        hits, has_next = review_insights.search_reviews(
            space, product_id, data["q"], data["page"], data["page_size"], data.get("rating")
        )
        body = {
            "product": product_id,
            "query": data["q"],
            "page": data["page"],
            "page_size": data["page_size"],
            "has_next": has_next,
            "results": hits,
        }
        return Response(serializers.ReviewSearchResponseSerializer(body).data)
