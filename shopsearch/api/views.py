"""Thin DRF views: validate parameters with a serializer, call one service function, serialize the result."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import search, sentiment
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
                data["q"], data["mode"], params.filters(), page=data["page"], page_size=data["page_size"], explain=data["explain"]
            )
        except search.NotReady as exc:
            raise StillIndexing(str(exc)) from exc
        body = {"query": data["q"], "mode": data["mode"], "page": page.page, "page_size": page.page_size, "has_next": page.has_next,
                "results": page.hits, "facets": page.facets}
        return Response(serializers.SearchResponseSerializer(body).data)


class SimilarProductsView(APIView):
    """Products similar to this one (nearest neighbours in the active embedding space)."""

    @extend_schema(parameters=[serializers.SimilarParams], responses=serializers.SimilarResponseSerializer)
    def get(self, request: Request, product_id: str) -> Response:
        params = serializers.SimilarParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        try:
            hits = search.similar_products(product_id, params.filters(), limit=params.validated_data.get("limit"))
        except Document.DoesNotExist as exc:
            raise NotFound(f"No indexed product with id {product_id!r}.") from exc
        except search.NotReady as exc:
            raise StillIndexing(str(exc)) from exc
        return Response(serializers.SimilarResponseSerializer({"product": product_id, "results": hits}).data)


class ProductSentimentView(APIView):
    """What a product's reviews say: sentiment counts, share positive, mean score, monthly trend, helpful snippets."""

    @extend_schema(responses=serializers.ProductSentimentSerializer)
    def get(self, request: Request, product_id: str) -> Response:
        if not Document.objects.filter(collection="", kind="product", object_id=str(product_id)).exists():
            raise NotFound(f"No indexed product with id {product_id!r}.")
        try:
            space = search.require_active_space()
        except search.NotReady as exc:
            raise StillIndexing(str(exc)) from exc
        return Response(serializers.ProductSentimentSerializer(sentiment.product_summary(space, product_id)).data)
