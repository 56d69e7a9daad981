"""GET /api/suggest/?q=pre: completions for the search box from the search log and the product titles
(analytics.suggest)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from .. import analytics
from .views import PublicAPIView, responses


class SuggestParams(serializers.Serializer):
    q = serializers.CharField(max_length=100, trim_whitespace=True, help_text="What the shopper has typed so far.")
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=20, help_text="Suggestions of each kind (default SUGGEST_LIMIT)."
    )


class SuggestedQuery(serializers.Serializer):
    query = serializers.CharField(help_text="A past query (normalised) that found products.")
    weight = serializers.FloatField(help_text="Its searches, each counting 0.5 ** (age / SUGGEST_HALF_LIFE_DAYS).")


class SuggestedProduct(serializers.Serializer):
    id = serializers.CharField()
    title = serializers.CharField()


class SuggestResponse(serializers.Serializer):
    queries = SuggestedQuery(many=True)
    products = SuggestedProduct(many=True)


class SuggestView(PublicAPIView):
    """Popular past queries with results and product titles matching the prefix (or a typo of it)."""

    @extend_schema(parameters=[SuggestParams], responses=responses({200: SuggestResponse}))
    def get(self, request: Request) -> Response:
        params = SuggestParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        return Response(
            SuggestResponse(analytics.suggest(params.validated_data["q"], params.validated_data.get("limit"))).data
        )
