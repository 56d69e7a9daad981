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
    mode = serializers.ChoiceField(
        choices=search.MODES, required=False, default="hybrid",
        help_text="keyword: full-text and typo-tolerant title match; semantic: by meaning; hybrid (default): both, fused.",
    )
    explain = serializers.BooleanField(
        required=False, default=False, help_text="true: add each hit's keyword rank/score, vector rank/distance and fused score."
    )
    page = serializers.IntegerField(required=False, default=1, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1)

    def validate_q(self, value: str) -> str:
        limit = setting("MAX_QUERY_LENGTH")
        if len(value) > limit:
            raise serializers.ValidationError(f"The query is {len(value)} characters long; at most {limit} are allowed.")
        if not any(char.isalnum() for char in value):
            raise serializers.ValidationError(f"The query {value!r} has no letters or digits; type a word to search for.")
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


class HighlightSerializer(serializers.Serializer):
    title = serializers.CharField(help_text="The title, HTML-escaped, matched terms in <mark>.")
    description = serializers.CharField(help_text="Up to two fragments of the description around matches, same markup.")


class ExplainSerializer(serializers.Serializer):
    keyword_rank = serializers.IntegerField(allow_null=True, help_text="1-based rank in the keyword list; null if not in it.")
    keyword_score = serializers.FloatField(allow_null=True, help_text="Text rank plus the title's trigram similarity share.")
    vector_rank = serializers.IntegerField(allow_null=True, help_text="1-based rank in the vector list; null if not in it.")
    vector_distance = serializers.FloatField(allow_null=True, help_text="Cosine distance to the query (0 = same direction).")
    fused_score = serializers.FloatField(allow_null=True, help_text="Hybrid only: the reciprocal rank fusion score.")


class SearchHitSerializer(HitSerializer):
    score = serializers.FloatField(help_text="hybrid: fused score; keyword: text score; semantic: cosine similarity. Higher is better.")
    highlights = HighlightSerializer(allow_null=True)
    explain = ExplainSerializer(required=False, help_text="Only with explain=true.")

    def to_representation(self, instance) -> dict:
        data = super().to_representation(instance)
        if instance.explain is None:
            data.pop("explain")
        return data


class ValueCountSerializer(serializers.Serializer):
    value = serializers.CharField()
    count = serializers.IntegerField()


class StockCountSerializer(serializers.Serializer):
    value = serializers.BooleanField()
    count = serializers.IntegerField()


class PriceBucketSerializer(serializers.Serializer):
    min = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True, help_text="Inclusive; null: no lower bound.")
    max = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True, help_text="Exclusive; null: no upper bound.")
    count = serializers.IntegerField()


class FacetsSerializer(serializers.Serializer):
    categories = ValueCountSerializer(many=True)
    price = PriceBucketSerializer(many=True)
    in_stock = StockCountSerializer(many=True)


class SearchResponseSerializer(serializers.Serializer):
    query = serializers.CharField()
    mode = serializers.ChoiceField(choices=search.MODES)
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    has_next = serializers.BooleanField()
    results = SearchHitSerializer(many=True)
    facets = FacetsSerializer(help_text="Counts over the products this query retrieved (its candidates after filters).")


class SimilarResponseSerializer(serializers.Serializer):
    product = serializers.CharField()
    results = HitSerializer(many=True)


class SentimentCountsSerializer(serializers.Serializer):
    negative = serializers.IntegerField()
    neutral = serializers.IntegerField()
    positive = serializers.IntegerField()


class SentimentMonthSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM")
    reviews = serializers.IntegerField()
    share_positive = serializers.FloatField()
    mean_score = serializers.FloatField()


class ReviewSnippetSerializer(serializers.Serializer):
    review = serializers.CharField()
    helpful_votes = serializers.IntegerField()
    score = serializers.FloatField()
    snippet = serializers.CharField()


class ProductSentimentSerializer(serializers.Serializer):
    product = serializers.CharField()
    reviews = serializers.IntegerField()
    labelled = serializers.IntegerField(help_text="reviews the classifier has labelled")
    counts = SentimentCountsSerializer()
    share_positive = serializers.FloatField()
    mean_score = serializers.FloatField(help_text="mean of P(positive) - P(negative), in [-1, 1]")
    trend = SentimentMonthSerializer(many=True)
    most_helpful_positive = ReviewSnippetSerializer(allow_null=True)
    most_helpful_negative = ReviewSnippetSerializer(allow_null=True)
