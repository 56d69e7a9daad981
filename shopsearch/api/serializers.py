"""Query-parameter validation and response shapes of the search API."""
from __future__ import annotations

from rest_framework import serializers

from .. import search
from ..conf import setting


class FilterParams(serializers.Serializer):
    category = serializers.CharField(required=False, max_length=200, help_text="Exact category name.")
    min_price = serializers.DecimalField(required=False, max_digits=12, decimal_places=2, min_value=0)
    max_price = serializers.DecimalField(required=False, max_digits=12, decimal_places=2, min_value=0)
    in_stock = serializers.BooleanField(required=False, allow_null=True, default=None, help_text="true/false; omit for both.")

    def validate_category(self, value: str) -> str:
        known = search.categories()
        if value not in known:
            sample = ", ".join(known[:10]) + (" …" if len(known) > 10 else "")
            raise serializers.ValidationError(f"Unknown category {value!r}. Known categories: {sample or 'none yet'}.")
        return value

    def validate(self, attrs: dict) -> dict:
        low, high = attrs.get("min_price"), attrs.get("max_price")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError({"min_price": f"min_price ({low}) is above max_price ({high})."})
        return attrs

    def filters(self) -> search.Filters:
        data = self.validated_data
        return search.Filters(
            category=data.get("category"), min_price=data.get("min_price"), max_price=data.get("max_price"), in_stock=data.get("in_stock")
        )


class SearchParams(FilterParams):
    q = serializers.CharField(help_text="What the shopper typed.", trim_whitespace=True)
    page = serializers.IntegerField(required=False, default=1, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1)

    def validate_q(self, value: str) -> str:
        limit = setting("MAX_QUERY_LENGTH")
        if len(value) > limit:
            raise serializers.ValidationError(f"The query is {len(value)} characters long; at most {limit} are allowed.")
        return value

    def validate_page_size(self, value: int) -> int:
        limit = setting("MAX_PAGE_SIZE")
        if value > limit:
            raise serializers.ValidationError(f"page_size is {value}; at most {limit}.")
        return value

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        attrs.setdefault("page_size", setting("PAGE_SIZE"))
        window = setting("MAX_RESULT_WINDOW")
        if attrs["page"] * attrs["page_size"] > window:
            raise serializers.ValidationError({"page": f"page × page_size may not exceed {window}; refine the query or filters instead."})
        return attrs


class SimilarParams(FilterParams):
    limit = serializers.IntegerField(required=False, min_value=1)

    def validate_limit(self, value: int) -> int:
        limit = setting("MAX_PAGE_SIZE")
        if value > limit:
            raise serializers.ValidationError(f"limit is {value}; at most {limit}.")
        return value


class HitSerializer(serializers.Serializer):
    id = serializers.CharField()
    title = serializers.CharField()
    category = serializers.CharField(allow_null=True)
    price = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    in_stock = serializers.BooleanField()
    score = serializers.FloatField(help_text="Cosine similarity to the query (higher is closer).")


class SearchResponseSerializer(serializers.Serializer):
    query = serializers.CharField()
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    has_next = serializers.BooleanField()
    results = HitSerializer(many=True)


class SimilarResponseSerializer(serializers.Serializer):
    product = serializers.CharField()
    results = HitSerializer(many=True)
