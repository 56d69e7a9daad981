"""Query-parameter validation and response shapes of the search API."""

from __future__ import annotations

from collections.abc import Mapping

from django.core.validators import MaxValueValidator
from rest_framework import serializers

from .. import recommend, registry, review_insights, search
from ..conf import setting
from ..exceptions import InvalidSession
from ..models import Event


class ErrorSerializer(serializers.Serializer):
    """Every error answer: what was wrong and what to do; a 400 for a parameter also has DRF's message per field."""

    detail = serializers.CharField(help_text="What was wrong, naming the parameter, and what to do.")
    errors = serializers.JSONField(
        required=False, help_text="400 for parameters: the messages per field, as DRF gives them."
    )


class FilterParams(serializers.Serializer):
    category = serializers.CharField(required=False, max_length=200, help_text="Exact category name.")
    min_price = serializers.DecimalField(required=False, max_digits=12, decimal_places=2, min_value=0)
    max_price = serializers.DecimalField(required=False, max_digits=12, decimal_places=2, min_value=0)
    in_stock = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="true/false; omit for both."
    )
    min_rating = serializers.DecimalField(
        required=False,
        max_digits=3,
        decimal_places=2,
        min_value=1,
        max_value=5,
        help_text="Only products whose reviews' mean star rating is at least this (the rating facet's steps).",
    )

    def get_fields(self) -> dict:
        """The fixed filters, and per declared attribute facet (PRODUCT_FACETS, read now) its parameters: attr.<name>
        for strings (repeat it: any of the values) and booleans, attr.<name>.min / attr.<name>.max for numbers."""
        fields = super().get_fields()
        for facet in registry.declared_facets().values():
            key = f"attr.{facet.name}"
            if facet.type == "number":
                for end, word in (("min", "at least"), ("max", "at most")):
                    fields[f"{key}.{end}"] = serializers.DecimalField(
                        required=False,
                        max_digits=18,
                        decimal_places=6,
                        help_text=f"{facet.label}: only products with a value {word} this (number attribute facet).",
                    )
            elif facet.type == "boolean":
                fields[key] = serializers.BooleanField(
                    required=False,
                    allow_null=True,
                    default=None,
                    help_text=f"{facet.label}: true/false (boolean attribute facet); omit for both.",
                )
            else:
                fields[key] = AttributeValues(
                    facet.name,
                    help_text=f"{facet.label}: exact value; repeat the parameter for any of several "
                    "(string attribute facet; a multi-valued product matches any of its values).",
                )
        return fields

    def to_internal_value(self, data) -> dict:
        """An attr.* parameter for no declared facet is an error (as a misspelled filter should be), named."""
        declared = registry.declared_facets()
        for key in data if isinstance(data, Mapping) else ():  # not a mapping: DRF's own error says so
            if isinstance(key, str) and key.startswith("attr.") and key not in self.fields:
                name = key.removeprefix("attr.").removesuffix(".min").removesuffix(".max")
                facet = declared.get(name)
                use = f"attr.{name}.min / attr.{name}.max" if facet and facet.type == "number" else f"attr.{name}"
                hint = (
                    f"{facet.name} is a {facet.type} facet: use {use}"
                    if facet
                    else f"Declared attribute facets: {', '.join(declared) or 'none'}"
                )
                raise serializers.ValidationError({key: [f"Unknown attribute filter {key!r}. {hint}."]})
        return super().to_internal_value(data)

    def validate_category(self, value: str) -> str:
        if not search.is_category(value):
            known = search.categories()
            sample = ", ".join(known[:10]) + (" …" if len(known) > 10 else "")
            raise serializers.ValidationError(f"Unknown category {value!r}. Known categories: {sample or 'none yet'}.")
        return value

    def validate(self, attrs: dict) -> dict:
        low, high = attrs.get("min_price"), attrs.get("max_price")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError({"min_price": f"min_price ({low}) is above max_price ({high})."})
        for name, value in attrs.get(
            "attr", {}
        ).items():  # DRF nests the dotted names: {"attr": {"waist": {"min": 30}}}
            if (
                isinstance(value, dict)
                and value.get("min") is not None
                and value.get("max") is not None
                and value["min"] > value["max"]
            ):
                raise serializers.ValidationError(
                    {f"attr.{name}.min": f"attr.{name}.min ({value['min']}) is above attr.{name}.max ({value['max']})."}
                )
        return attrs

    def filters(self) -> search.Filters:
        return to_filters(self.validated_data)


class AttributeValues(serializers.ListField):
    """The values asked for of one string attribute facet (a query parameter repeated, or a JSON list or string);
    each must be a value some indexed product has, as a category must."""

    child = serializers.CharField(max_length=200)

    def __init__(self, facet: str, **kwargs) -> None:
        self.facet = facet
        super().__init__(required=False, allow_empty=False, max_length=50, **kwargs)

    def to_internal_value(self, data) -> list[str]:
        values = list(dict.fromkeys(super().to_internal_value([data] if isinstance(data, str) else data)))
        for value in values:
            if not search.has_attribute_value(self.facet, value):
                known = search.attribute_values(self.facet)
                sample = ", ".join(known[:10]) + (" …" if len(known) > 10 else "")
                raise serializers.ValidationError(
                    f"No product has {self.facet} {value!r}. Known values: {sample or 'none yet'}."
                )
        return values


def to_filters(data: dict) -> search.Filters:
    """Filters from validated FilterParams data (top level, or nested as `filters` in a request body); DRF nests the
    attr.* parameters by their dots: {"attr": {"colour": ["Black"], "eco": True, "waist": {"min": 30, "max": 32}}}."""
    attributes = []
    for name, value in data.get("attr", {}).items():
        if isinstance(value, dict) and (value.get("min") is not None or value.get("max") is not None):
            attributes.append(search.AttributeFilter(name, minimum=value.get("min"), maximum=value.get("max")))
        elif not isinstance(value, dict) and value not in (None, []):
            attributes.append(search.AttributeFilter(name, tuple(value) if isinstance(value, list) else (value,)))
    return search.Filters(
        category=data.get("category"),
        min_price=data.get("min_price"),
        max_price=data.get("max_price"),
        in_stock=data.get("in_stock"),
        attributes=tuple(attributes) or None,
        min_rating=data.get("min_rating"),
    )


class BoundedInteger(serializers.IntegerField):
    """A whole number from 1 to the value of a shopsearch setting, read when it validates and when the schema is
    made (so the schema states the bound a project configured)."""

    def __init__(self, bound: str, **kwargs) -> None:
        self.bound = bound
        super().__init__(min_value=1, **kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, MaxValueValidator)]

    @property
    def max_value(self) -> int:
        return int(setting(self.bound))

    @max_value.setter
    def max_value(self, value) -> None:  # IntegerField.__init__ assigns it; the setting decides
        pass

    def to_internal_value(self, data) -> int:
        value = super().to_internal_value(data)
        if value > self.max_value:
            raise serializers.ValidationError(f"{self.field_name} is {value}; at most {self.max_value}.")
        return value


class SignedSession(serializers.CharField):
    """A shopper session id issued by POST /api/sessions/; validates to the stored id (recommend.session_key)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(max_length=200, **kwargs)

    def to_internal_value(self, data) -> str:
        try:
            return recommend.session_key(super().to_internal_value(data))
        except InvalidSession as exc:
            raise serializers.ValidationError(str(exc)) from exc


class LimitParam(serializers.Serializer):
    limit = BoundedInteger(
        "MAX_PAGE_SIZE", required=False, help_text="How many products (default PAGE_SIZE, at most MAX_PAGE_SIZE)."
    )


class SearchParams(FilterParams):
    q = serializers.CharField(help_text="What the shopper typed.", trim_whitespace=True)
    mode = serializers.ChoiceField(
        choices=search.MODES,
        required=False,
        default="hybrid",
        help_text="keyword: full-text and typo-tolerant title match; semantic: by meaning; hybrid (default): both, "
        "fused.",
    )
    explain = serializers.BooleanField(
        required=False,
        default=False,
        help_text="true: add each hit's keyword rank/score, vector rank/distance and fused score.",
    )
    reviews = serializers.BooleanField(
        required=False,
        default=False,
        help_text="true: also find products whose reviews say what the query says (semantic and hybrid modes).",
    )
    understand = serializers.BooleanField(
        required=False,
        default=True,
        help_text="true (default): price phrases become filters, a named category is boosted, typos are corrected "
        "(see understood, corrected_query); false: search the query exactly as typed (the shopper removed what "
        "was understood).",
    )
    sort = serializers.ChoiceField(
        choices=search.SORTS,
        required=False,
        default="relevance",
        help_text="relevance (default), or the retrieved products by price_asc, price_desc, rating (mean stars) or "
        "reviews (most reviewed).",
    )
    session = SignedSession(
        required=False,
        help_text="The shopper's session id, as POST /api/sessions/ issued it: kept in the search log with the search.",
    )
    page = BoundedInteger(
        "MAX_RESULT_WINDOW", required=False, default=1, help_text="page × page_size may not exceed MAX_RESULT_WINDOW."
    )
    page_size = BoundedInteger(
        "MAX_PAGE_SIZE", required=False, help_text="Hits per page (default PAGE_SIZE, at most MAX_PAGE_SIZE)."
    )

    def validate_q(self, value: str) -> str:
        limit = setting("MAX_QUERY_LENGTH")
        if len(value) > limit:
            raise serializers.ValidationError(
                f"The query is {len(value)} characters long; at most {limit} are allowed."
            )
        if not any(char.isalnum() for char in value):
            raise serializers.ValidationError(
                f"The query {value!r} has no letters or digits; type a word to search for."
            )
        return value

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        if attrs.get("reviews") and attrs.get("mode") == "keyword":
            raise serializers.ValidationError(
                {"reviews": ["reviews=true matches by meaning: use mode=semantic or hybrid."]}
            )
        attrs.setdefault("page_size", setting("PAGE_SIZE"))
        window = setting("MAX_RESULT_WINDOW")
        if attrs["page"] * attrs["page_size"] > window:
            raise serializers.ValidationError(
                {"page": f"page × page_size may not exceed {window}; refine the query or filters instead."}
            )
        return attrs


class SimilarParams(FilterParams, LimitParam):
    same_category = serializers.BooleanField(
        required=False, default=False, help_text="true: only products of this product's category."
    )
    diversity = serializers.FloatField(
        required=False,
        default=0.0,
        min_value=0.0,
        max_value=1.0,
        help_text="0 (default): most similar first; up to 1: trade similarity for variety (maximal marginal "
        "relevance).",
    )


class ProductIds(serializers.ListField):
    """A list of product ids, at most MAX_EXAMPLES of them; repeats count once."""

    child = serializers.CharField(max_length=64)

    def __init__(self, **kwargs) -> None:
        super().__init__(max_length=setting("MAX_EXAMPLES"), **kwargs)

    def to_internal_value(self, data) -> list[str]:
        return list(dict.fromkeys(super().to_internal_value(data)))


class RecommendationParams(LimitParam):
    positive = ProductIds(min_length=1, help_text="Ids of products to find more like (1 to MAX_EXAMPLES).")
    negative = ProductIds(
        required=False, default=list, help_text="Ids of products to move away from (at most MAX_EXAMPLES)."
    )
    strategy = serializers.ChoiceField(
        choices=recommend.STRATEGIES,
        required=False,
        default="average",
        help_text="average: towards the positives' mean and away from the negatives'; best_score: best similarity to a "
        "positive minus best to a negative.",
    )
    filters = FilterParams(required=False, help_text="The search filters: category, min_price, max_price, in_stock.")

    def validate(self, attrs: dict) -> dict:
        both = sorted(set(attrs["positive"]) & set(attrs.get("negative", [])))
        if both:
            raise serializers.ValidationError(
                {"negative": f"{', '.join(both)} also in positive; an example is either positive or negative."}
            )
        return attrs


class EventSerializer(serializers.ModelSerializer):
    session_id = SignedSession(help_text="The shopper's session id, as POST /api/sessions/ issued it.")
    shown = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        max_length=100,
        help_text="Product ids the page listed above the clicked hit.",
    )

    class Meta:
        model = Event
        fields = ["type", "session_id", "user_id", "product_id", "query", "position", "shown"]
        extra_kwargs = {"query": {"max_length": 500}, "position": {"max_value": 100_000}}


class EventBatch(serializers.Serializer):
    events = EventSerializer(many=True, allow_empty=False, max_length=setting("MAX_EVENTS_PER_REQUEST"))

    def validate_events(self, events: list[dict]) -> list[dict]:
        """Only events about indexed products: anything else is a forgery or a bug (the index of each is named)."""
        unknown = recommend.unknown_products([event["product_id"] for event in events])
        if unknown:
            raise serializers.ValidationError(
                [
                    {"product_id": [f"No indexed product with id {event['product_id']!r}."]}
                    if event["product_id"] in unknown
                    else {}
                    for event in events
                ]
            )
        return events


class SessionSerializer(serializers.Serializer):
    session = serializers.CharField(
        help_text="Send it as session_id with every event and as session to for-session recommendations."
    )


class SessionParams(FilterParams, LimitParam):
    session = SignedSession(help_text="The shopper's session id, as POST /api/sessions/ issued it.")


class TrendingParams(FilterParams, LimitParam):
    days = serializers.IntegerField(
        required=False, min_value=1, max_value=365, help_text="Window of events, in days (default TRENDING_DAYS)."
    )


class HitSerializer(serializers.Serializer):
    id = serializers.CharField()
    title = serializers.CharField()
    category = serializers.CharField(allow_null=True)
    price = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    in_stock = serializers.BooleanField()
    score = serializers.FloatField(help_text="Cosine similarity to the query (higher is closer).")
    rating = serializers.FloatField(
        allow_null=True, help_text="Mean star rating of the product's reviews; null without rated reviews."
    )
    review_count = serializers.IntegerField(help_text="How many reviews the product has.")


class HighlightSerializer(serializers.Serializer):
    title = serializers.CharField(help_text="The title, HTML-escaped, matched terms in <mark>.")
    description = serializers.CharField(help_text="Up to two fragments of the description around matches, same markup.")


class UnderstoodSerializer(serializers.Serializer):
    min_price = serializers.DecimalField(
        max_digits=12, decimal_places=2, allow_null=True, help_text='From a price phrase ("over 20"): a filter.'
    )
    max_price = serializers.DecimalField(
        max_digits=12, decimal_places=2, allow_null=True, help_text='From a price phrase ("under 50"): a filter.'
    )
    cheap = serializers.BooleanField(
        help_text='"cheap" and its like: the cheaper half of the retrieved products is boosted.'
    )
    categories = serializers.ListField(
        child=serializers.CharField(), help_text="Categories the query names: their products are boosted."
    )
    attributes = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text='Values of declared attribute facets the query names ({"color": ["Black"]}): products with them '
        "are boosted, never filtered.",
    )
    removed = serializers.ListField(
        child=serializers.CharField(), help_text="The phrases taken out of the query, as typed."
    )


class ExplainSerializer(serializers.Serializer):
    keyword_rank = serializers.IntegerField(
        allow_null=True, help_text="1-based rank in the keyword list; null if not in it."
    )
    keyword_score = serializers.FloatField(
        allow_null=True, help_text="Text rank plus the title's trigram similarity share."
    )
    vector_rank = serializers.IntegerField(
        allow_null=True, help_text="1-based rank in the vector list; null if not in it."
    )
    vector_distance = serializers.FloatField(
        allow_null=True, help_text="Cosine distance to the query (0 = same direction)."
    )
    fused_score = serializers.FloatField(allow_null=True, help_text="Hybrid (or reviews=true): the fused score.")
    review_rank = serializers.IntegerField(
        required=False, allow_null=True, help_text="reviews=true: rank in the review list."
    )
    review_similarity = serializers.FloatField(
        required=False, allow_null=True, help_text="reviews=true: best review's cosine similarity."
    )
    fusion_weights = serializers.DictField(
        child=serializers.FloatField(),
        allow_null=True,
        help_text="Hybrid, FUSION adaptive: this query's weights of the normalised keyword score and similarity (from "
        "what the query gave).",
    )
    rules = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Merchandising rules that moved, pinned or boosted this hit (rules.py).",
    )
    synonyms = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Terms synonyms added to the query."
    )
    corrections = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        help_text="Query words no product has, each with the word searched instead.",
    )
    understood = UnderstoodSerializer(
        required=False, allow_null=True, help_text="What the query asked beyond its words (as in the page)."
    )


class SearchHitSerializer(HitSerializer):
    score = serializers.FloatField(
        help_text="hybrid: fused score; keyword: text score; semantic: cosine similarity. Higher is better."
    )
    highlights = HighlightSerializer(allow_null=True)
    review_sentence = serializers.CharField(
        allow_null=True,
        help_text="reviews=true, when reviews matched: the sentence of its closest review that says most what the "
        "query says.",
    )
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
    min = serializers.DecimalField(
        max_digits=12, decimal_places=2, allow_null=True, help_text="Inclusive; null: no lower bound."
    )
    max = serializers.DecimalField(
        max_digits=12, decimal_places=2, allow_null=True, help_text="Exclusive; null: no upper bound."
    )
    count = serializers.IntegerField()


class RatingStepSerializer(serializers.Serializer):
    min = serializers.FloatField(
        help_text="The step: products whose mean review rating is at least this (filter: min_rating)."
    )
    count = serializers.IntegerField()


class AttributeValueCountSerializer(serializers.Serializer):
    value = serializers.JSONField(help_text="A string, or true/false for a boolean facet (filter: attr.<name>=value).")
    count = serializers.IntegerField(
        help_text="Retrieved products that have this value (a multi-valued product counts for each of its values)."
    )


class AttributeRangeSerializer(serializers.Serializer):
    min = serializers.FloatField(
        allow_null=True, help_text="Inclusive; null: no lower bound (filter: attr.<name>.min)."
    )
    max = serializers.FloatField(
        allow_null=True, help_text="Exclusive; null: no upper bound (filter: attr.<name>.max)."
    )
    count = serializers.IntegerField()


class AttributeFacetSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="As declared in PRODUCT_FACETS; the filter parameter is attr.<name>.")
    label = serializers.CharField()
    type = serializers.ChoiceField(choices=registry.FACET_TYPES)
    values = AttributeValueCountSerializer(
        many=True, required=False, help_text="string and boolean facets: most frequent first."
    )
    min = serializers.FloatField(
        required=False, help_text="number facets: the least value among the retrieved products."
    )
    max = serializers.FloatField(
        required=False, help_text="number facets: the greatest value among the retrieved products."
    )
    count = serializers.IntegerField(required=False, help_text="number facets: retrieved products that have a value.")
    buckets = AttributeRangeSerializer(
        many=True, required=False, help_text="number facets with declared bucket edges: products per range."
    )


class FacetsSerializer(serializers.Serializer):
    categories = ValueCountSerializer(many=True)
    price = PriceBucketSerializer(many=True)
    in_stock = StockCountSerializer(many=True)
    rating = RatingStepSerializer(
        many=True, help_text="Products per RATING_FACET_STEPS step ('4 and up'); unrated products count in none."
    )
    attributes = AttributeFacetSerializer(
        many=True, help_text="Each declared attribute facet some retrieved product has, in declaration order."
    )


class SearchResponseSerializer(serializers.Serializer):
    query = serializers.CharField()
    mode = serializers.ChoiceField(choices=search.MODES)
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    has_next = serializers.BooleanField()
    total = serializers.IntegerField(
        allow_null=True, help_text="Products the query retrieved after filters; null: more than were ranked."
    )
    match = serializers.ChoiceField(
        choices=["good", "weak", "none"],
        allow_null=True,
        help_text="How good the best hit is (hybrid: from its estimated probability of being relevant, see relevance): "
        "good, weak, or none "
        "(nothing relevant: say so rather than show the results as answers); null where not estimated "
        "(keyword/semantic modes).",
    )
    relevance = serializers.FloatField(
        allow_null=True, help_text="Hybrid: the best hit's estimated probability of being relevant (0-1)."
    )
    corrected_query = serializers.CharField(
        allow_null=True,
        help_text='The query as searched where words no product has were corrected ("showing results for …"); null: '
        "none were.",
    )
    understood = UnderstoodSerializer(
        allow_null=True, help_text="What the query asked beyond its words; null: nothing."
    )
    results = SearchHitSerializer(many=True)
    facets = FacetsSerializer(help_text="Counts over the products this query retrieved (its candidates after filters).")


class SimilarResponseSerializer(serializers.Serializer):
    product = serializers.CharField()
    results = HitSerializer(many=True)


class RecommendationsResponseSerializer(serializers.Serializer):
    results = HitSerializer(many=True)


class EventsStoredSerializer(serializers.Serializer):
    stored = serializers.IntegerField()


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


class AspectExampleSerializer(serializers.Serializer):
    sentence = serializers.CharField()
    review = serializers.CharField(help_text="The review's id.")
    sentiment = serializers.CharField(allow_null=True)
    score = serializers.FloatField(allow_null=True, help_text="P(positive) - P(negative) of the sentence")
    similarity = serializers.FloatField(
        allow_null=True, help_text="Configured aspects: cosine similarity to the closest aspect phrase."
    )


class AspectSerializer(serializers.Serializer):
    name = serializers.CharField()
    source = serializers.ChoiceField(
        choices=["configured", "discovered"],
        help_text="configured: SENTIMENT_ASPECTS, matched by meaning; discovered: a word from the shop's reviews, "
        "matched as a word.",
    )
    mentions = serializers.IntegerField(help_text="review sentences about this aspect")
    reviews = serializers.IntegerField(help_text="reviews with at least one such sentence")
    share_negative = serializers.FloatField()
    share_positive = serializers.FloatField()
    examples = AspectExampleSerializer(many=True)


class FitCountsSerializer(serializers.Serializer):
    small = serializers.IntegerField()
    true_to_size = serializers.IntegerField()
    large = serializers.IntegerField()


class FitSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(
        ["small", "true_to_size", "large"],
        allow_null=True,
        help_text="the direction most of the reviews that say one take; null below FIT_MIN_REVIEWS of them",
    )
    label = serializers.CharField(allow_null=True, help_text="runs small, true to size or runs large")
    reviews = FitCountsSerializer(
        help_text="reviews per direction (each review once, by most of its size/fit sentences)"
    )
    reviews_saying = serializers.IntegerField(help_text="reviews that say a direction")
    examples = serializers.DictField(
        child=serializers.CharField(), help_text="direction -> the first sentence that says it"
    )


class ProductSentimentSerializer(serializers.Serializer):
    product = serializers.CharField()
    reviews = serializers.IntegerField()
    labelled = serializers.IntegerField(help_text="reviews the classifier has labelled")
    classifier = serializers.ChoiceField(
        ["ready", "pending"],
        help_text="pending: the serving space (a new model) has no "
        "sentiment classifier yet; the periodic reconcile trains one from the shop's ratings",
    )
    counts = SentimentCountsSerializer()
    share_positive = serializers.FloatField()
    mean_score = serializers.FloatField(help_text="mean of P(positive) - P(negative), in [-1, 1]")
    trend = SentimentMonthSerializer(many=True)
    most_helpful_positive = ReviewSnippetSerializer(allow_null=True)
    most_helpful_negative = ReviewSnippetSerializer(allow_null=True)
    analysed = serializers.IntegerField(
        help_text="reviews the worker has analysed sentence by sentence (aspects count only "
        "these); fewer than `reviews` while it catches up"
    )
    aspects = AspectSerializer(
        many=True, help_text="configured aspects first, then discovered ones; all of them unless aspect= names one"
    )
    fit = FitSerializer(
        allow_null=True,
        help_text="which way the size errs, from the FIT_ASPECT aspect's sentences; null without that aspect",
    )


class SentimentParams(serializers.Serializer):
    aspect = serializers.CharField(
        required=False, max_length=100, help_text="Only this aspect (configured or discovered)."
    )

    def validate_aspect(self, value: str) -> str:
        known = [aspect.name for aspect in review_insights.known_aspects(self.context.get("space"))]
        if value not in known:
            raise serializers.ValidationError(f"Unknown aspect {value!r}. Known aspects: {', '.join(known)}.")
        return value


class ReviewSearchParams(serializers.Serializer):
    q = serializers.CharField(
        help_text="What to look for in the reviews, e.g. 'does it run small'.", trim_whitespace=True
    )
    rating = serializers.IntegerField(
        required=False, min_value=1, max_value=5, help_text="Only reviews with this star rating."
    )
    page = BoundedInteger(
        "MAX_RESULT_WINDOW", required=False, default=1, help_text="page × page_size may not exceed MAX_RESULT_WINDOW."
    )
    page_size = BoundedInteger(
        "MAX_PAGE_SIZE", required=False, help_text="Reviews per page (default PAGE_SIZE, at most MAX_PAGE_SIZE)."
    )

    validate_q = SearchParams.validate_q

    def validate(self, attrs: dict) -> dict:
        attrs.setdefault("page_size", setting("PAGE_SIZE"))
        window = setting("MAX_RESULT_WINDOW")
        if attrs["page"] * attrs["page_size"] > window:
            raise serializers.ValidationError(
                {"page": f"page × page_size may not exceed {window}; refine the query instead."}
            )
        return attrs


class ReviewHitSerializer(serializers.Serializer):
    review = serializers.CharField(help_text="The review's id.")
    rating = serializers.IntegerField(allow_null=True)
    sentence = serializers.CharField(help_text="The review's sentence closest in meaning to the query.")
    score = serializers.FloatField(help_text="Cosine similarity of that sentence to the query (higher is closer).")
    sentiment = serializers.CharField(allow_null=True, help_text="The sentence's sentiment label.")
    review_sentiment = serializers.CharField(allow_null=True, help_text="The whole review's sentiment label.")
    highlight = serializers.CharField(
        help_text="The review (HTML-escaped, shortened around the sentence) with the sentence in <mark>."
    )


class ReviewSearchResponseSerializer(serializers.Serializer):
    product = serializers.CharField()
    query = serializers.CharField()
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    has_next = serializers.BooleanField()
    results = ReviewHitSerializer(many=True)
