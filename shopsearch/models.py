"""Tables owned by shopsearch: embedding spaces, the indexed documents and their vectors.

The shop's own tables are never touched. A `Document` is shopsearch's copy of what a product or review says (the
output of the shop's document function): search, filters and display read it, so a query needs no join into the
shop's schema. An `Embedding` is one vector of one document in one `EmbeddingSpace` (model + dimensions + text
recipe); vectors of different spaces are never compared, and exactly one space is active at a time.
"""

from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q
from django.utils import timezone
from pgvector.django import VectorField


class EmbeddingSpace(models.Model):
    class Status(models.TextChoices):
        BUILDING = "building", "building"  # being filled; the active space keeps serving
        READY = "ready", "ready"  # complete; may be (or have been) active
        RETIRED = "retired", "retired"

    class VectorType(models.TextChoices):
        VECTOR = "vector", "vector (single precision)"
        HALFVEC = "halfvec", "halfvec (half precision: half the bytes per HNSW index entry)"

    model_name = models.CharField(
        max_length=500, help_text="What the encoder is loaded from: a folder or a model name."
    )
    model_identity = models.CharField(max_length=200, help_text="Stable identity of the weights (name@weights-hash).")
    dimensions = models.PositiveIntegerField()
    recipe = models.CharField(max_length=50, help_text="Text recipe version (registry.recipe_version()).")
    # How the HNSW indexes and every distance compare this space's vectors (sql.indexed), from
    # SHOPSEARCH["VECTOR_TYPE"] when the space is created and fixed after: another type is another space.
    vector_type = models.CharField(max_length=10, choices=VectorType.choices, default=VectorType.VECTOR)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.BUILDING)
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_identity", "dimensions", "recipe", "vector_type"], name="shopsearch_space_identity"
            ),
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="shopsearch_one_active_space"
            ),
        ]

    def __str__(self) -> str:
        active = ", active" if self.is_active else ""
        return (
            f"#{self.pk} {self.model_identity} ({self.dimensions}d {self.vector_type}, recipe {self.recipe}, "
            f"{self.status}{active})"
        )


SHOP_COLLECTION = ""  # the shop's own documents; evaluation sets live in collections of their own ("eval:<sha>")


class Document(models.Model):
    # Which catalogue the document belongs to: every query is scoped to one, so evaluation data never mixes with
    # the shop's. Besides these fields the table has `search_vector`, a generated, weighted tsvector (migration
    # 0002): Django cannot declare a generated column over the IMMUTABLE unaccent wrapper, so SQL owns it.
    collection = models.CharField(max_length=100, default=SHOP_COLLECTION, blank=True)
    kind = models.CharField(max_length=10)  # "product" or "review"
    object_id = models.CharField(max_length=64)  # primary key of the shop's object, as text
    # reviews: the product they belong to (NULL for products: no product, not an empty id)
    product_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    title = models.TextField(blank=True)
    description = models.TextField(blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    # Declared attribute facets (registry.facet_values): {"size": ["S", "M"], "waist": [32], "eco": [true]}, always
    # lists, so one containment test (`@>`, GIN index) filters single- and multi-valued facets alike.
    facets = models.JSONField(default=dict, blank=True)
    text = models.TextField(help_text="Exactly the text that is embedded (registry recipe).")
    category = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 (NULL: the product has none)
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    in_stock = models.BooleanField(default=True)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    helpful_votes = models.PositiveIntegerField(default=0)
    published_at = models.DateTimeField(null=True, blank=True)  # reviews: when written
    content_hash = models.CharField(max_length=32)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["collection", "kind", "object_id"], name="shopsearch_document_object")
        ]
        indexes = [
            # a product's reviews, with what their stars and counts read (search._REVIEWS_OF): an index-only scan for
            # the rating facet, sort and cards (100 candidates' 6,838 demo reviews: 10.5 ms from the heap, 1.7 here)
            models.Index(
                fields=["kind", "product_id", "collection"], include=["rating"], name="shopsearch_doc_reviews_of"
            ),
            models.Index(fields=["kind", "category"], name="shopsearch_doc_category"),
            GinIndex(fields=["facets"], name="shopsearch_doc_facets", opclasses=["jsonb_path_ops"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id}: {self.title[:60]}"


class Word(models.Model):
    """One word of a collection's product texts and how many products have it: the vocabulary typo correction
    reads (vocabulary.py keeps it current; the trigram index finds the words near a misspelt one)."""

    collection = models.CharField(max_length=100, default=SHOP_COLLECTION, blank=True)
    word = models.CharField(max_length=40)
    documents = models.IntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["collection", "word"], name="shopsearch_word_once")]
        indexes = [GinIndex(fields=["word"], name="shopsearch_word_trgm", opclasses=["gin_trgm_ops"])]

    def __str__(self) -> str:
        return f"{self.word} ({self.documents})"


class Lexeme(models.Model):
    """One lexeme of a collection's product `search_vector`s and how many products have it: the document frequency
    of the keyword IDF (search.keyword_matches), read instead of counted per query (vocabulary.py keeps it current).

    A table beside `Word`, not a column of it: a word is what a shopper types ("dresses", letters only, 3-40 of
    them), kept for typo correction's trigram index; a lexeme is what the english stemmer makes of it ("dress",
    digits and any length allowed). They are different keys, not two figures of one, so neither table's readers
    have to skip the other's rows."""

    collection = models.CharField(max_length=100, default=SHOP_COLLECTION, blank=True)
    lexeme = models.TextField()
    documents = models.IntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["collection", "lexeme"], name="shopsearch_lexeme_once")]

    def __str__(self) -> str:
        return f"{self.lexeme} ({self.documents})"


class ProductTotal(models.Model):
    """How many product documents a collection has: the N of the keyword IDF, beside `Lexeme`'s document
    frequencies. One row per collection, so the figure is one index lookup, not a reserved lexeme every reader of
    `Lexeme` would have to know about; the row doubles as the collection's lock for keeping the counts current
    (vocabulary._lock_collection)."""

    collection = models.CharField(max_length=100, default=SHOP_COLLECTION, blank=True)
    products = models.IntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["collection"], name="shopsearch_producttotal_once")]

    def __str__(self) -> str:
        return f"{self.collection or 'shop'}: {self.products} products"


class Embedding(models.Model):
    space = models.ForeignKey(EmbeddingSpace, on_delete=models.CASCADE, related_name="embeddings")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="embeddings")
    kind = models.CharField(max_length=10)  # copy of document.kind: the per-space HNSW indexes are partial on it
    # No fixed dimensions: spaces differ. Each space gets partial HNSW indexes on `vector::<type>(<dims>)`
    # (sql.indexed, spaces.create_space_indexes), and queries use the same cast.
    vector = VectorField()
    content_hash = models.CharField(max_length=32)  # hash of the text this vector was made from
    updated_at = models.DateTimeField(auto_now=True)  # when this vector was last (re)written
    # Reviews: what the space's active sentiment classifier made of this vector (sentiment.py), kept with it so a
    # changed text or a new classifier is the only reason to recompute.
    sentiment_label = models.CharField(max_length=8, null=True, blank=True)  # noqa: DJ001 (NULL: not labelled yet)
    sentiment_score = models.FloatField(null=True, blank=True)  # P(positive) - P(negative), in [-1, 1]
    sentiment_classifier = models.ForeignKey(
        "SentimentClassifier", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["space", "document"], name="shopsearch_embedding_once")]
        indexes = [
            models.Index(fields=["space", "kind"], name="shopsearch_emb_space_kind"),
            # a text already embedded in the space is copied, not encoded again (indexing.embed_documents)
            models.Index(fields=["space", "content_hash"], name="shopsearch_emb_space_hash"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.document_id} in space #{self.space_id}"


class SentimentClassifier(models.Model):
    """A linear classifier over one space's review vectors (plus lexicon features); never applied to another space."""

    space = models.ForeignKey(EmbeddingSpace, on_delete=models.CASCADE, related_name="sentiment_classifiers")
    is_active = models.BooleanField(default=False)
    weights = models.JSONField(help_text="labels, coefficients and intercepts (plain numbers, no pickles)")
    metrics = models.JSONField(default=dict, help_text="cross-validated figures from training")
    trained_on = models.CharField(max_length=300)
    examples = models.JSONField(default=dict, help_text="training examples per label")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["space"], condition=Q(is_active=True), name="shopsearch_one_active_classifier"
            )
        ]

    def __str__(self) -> str:
        return f"sentiment #{self.pk} for space #{self.space_id} ({self.trained_on})"


class Event(models.Model):
    """One shopper interaction, append-only: what recently-viewed, trending and click-trained models learn from.

    `product_id` is the shop's product id as text (as `Document.object_id`), so events need no join into the shop's
    schema and survive a reindex. A click or add-to-cart that came from a search page carries the `query` and the
    hit's 1-based `position`, and `shown` the product ids that page listed above it (products seen but skipped).
    """

    class Type(models.TextChoices):
        VIEW = "view", "view"
        CLICK = "click", "click on a search hit"
        ADD_TO_CART = "add_to_cart", "add to cart"

    type = models.CharField(max_length=20, choices=Type.choices)
    session_id = models.CharField(max_length=100, help_text="Anonymous session id chosen by the storefront.")
    user_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 (NULL: an anonymous shopper)
    product_id = models.CharField(max_length=64)
    query = models.TextField(blank=True, default="")
    position = models.PositiveIntegerField(null=True, blank=True)
    shown = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["session_id", "created_at"], name="shopsearch_event_session"),
            models.Index(fields=["created_at", "type"], name="shopsearch_event_recent"),
            models.Index(fields=["product_id"], name="shopsearch_event_product"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.product_id} ({self.session_id})"


class ReviewVector(models.Model):
    """What customers write about a product, as one vector: the normalised centroid of its review vectors in a space.

    Kept current by the workers (indexing.refresh_review_vectors) whenever a review is embedded, edited, moved to
    another product or deleted; similar products blend it with the product's own vector. Each space has a partial
    HNSW index on it (spaces.create_space_indexes).
    """

    space = models.ForeignKey(EmbeddingSpace, on_delete=models.CASCADE, related_name="review_vectors")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="review_vectors")  # the product
    vector = VectorField()
    reviews = models.PositiveIntegerField(help_text="How many review vectors the centroid averages.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["space", "document"], name="shopsearch_review_vector_once")]

    def __str__(self) -> str:
        return f"reviews of {self.document_id} in space #{self.space_id} ({self.reviews})"


class ReviewSentence(models.Model):
    """One sentence of a review with its vector, sentiment and aspect similarities in one space: what aspects and
    in-review search rank.

    Written by the worker when a review is indexed (a low-priority task behind the indexing) and by reindex /
    reconcile for reviews that have none; never in a request. `content_hash` is the review text's hash at split
    time, so a stale row is recognised without re-reading the review.
    """

    space = models.ForeignKey(EmbeddingSpace, on_delete=models.CASCADE, related_name="+")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="sentences")
    product_id = models.CharField(max_length=64)  # copy of document.product_id: every query is per product
    position = models.PositiveSmallIntegerField()  # order within the review
    start = models.PositiveIntegerField()  # character offsets of the sentence in document.text (highlights)
    end = models.PositiveIntegerField()
    text = models.TextField()
    vector = VectorField()
    content_hash = models.CharField(max_length=32)
    sentiment_label = models.CharField(max_length=8, null=True, blank=True)  # noqa: DJ001 (NULL: not labelled yet)
    sentiment_score = models.FloatField(null=True, blank=True)
    # which classifier labelled it: a newly trained one relabels the sentences (no re-embedding;
    # review_insights.refresh_all)
    sentiment_classifier = models.ForeignKey(
        "SentimentClassifier", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # configured aspect name -> cosine similarity to its nearest phrase, computed with the vector by the worker, so a
    # product's aspects are counted without reading its sentence vectors; aspects_version says for which phrases
    aspect_similarity = models.JSONField(default=dict, blank=True)
    aspects_version = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["space", "document", "position"], name="shopsearch_sentence_once")
        ]
        indexes = [models.Index(fields=["space", "product_id"], name="shopsearch_sentence_product")]

    def __str__(self) -> str:
        return f"{self.document_id}[{self.position}]: {self.text[:60]}"


class DiscoveredAspect(models.Model):
    """A word the shop's reviews often talk about that no configured aspect covers ("waist", "sleeves").

    Refreshed as a whole by `manage.py discover_aspects` (review_insights.discover_aspects); shown beside the configured
    aspects and matched to sentences by the word itself.
    """

    space = models.ForeignKey(EmbeddingSpace, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    forms = models.JSONField(default=list, help_text="the surface forms that count as a mention (singular, plural)")
    sentences = models.PositiveIntegerField(help_text="review sentences that mention it, shop-wide")
    products = models.PositiveIntegerField(help_text="products with at least one such sentence")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["space", "name"], name="shopsearch_discovered_aspect_once")]

    def __str__(self) -> str:
        return f"{self.name} ({self.sentences} sentences)"


class PendingChange(models.Model):
    """A saved or deleted shop object whose index update is not applied yet: the durable half of the task queue.

    Written by the save's own signal (signals.py), so a committed save always leaves one, whatever happens to the
    Celery message; removed by the worker only once the document and vectors match what it read (`seq` is the
    save's ticket: a save during indexing draws a new one, so its row stays). A message lost with Redis, or
    stranded by a killed worker, leaves its row behind for `indexing.reconcile` — and in the "missing" counts.
    """

    kind = models.CharField(max_length=10)
    object_id = models.CharField(max_length=64)
    seq = models.BigIntegerField(
        help_text="Ticket of the latest save (a database sequence): newer saves draw higher ones."
    )
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "object_id"], name="shopsearch_pending_once")]
        indexes = [models.Index(fields=["changed_at"], name="shopsearch_pending_age")]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id} (changed {self.changed_at:%Y-%m-%d %H:%M:%S})"


class SearchLog(models.Model):
    """One storefront/API search, for the owner's analytics and the query suggestions (analytics.py).

    Written in batches off the request path (analytics.log_search buffers in Redis, a task flushes), kept for
    SHOPSEARCH["SEARCH_LOG_RETENTION_DAYS"]. No IP address and no user id: the session id is the anonymous one
    the storefront chose, as on `Event`.
    """

    query = models.TextField(help_text="The query as typed.")
    normalized = models.CharField(
        max_length=300, help_text="Lower-cased, accents and extra spaces removed: what analytics group by."
    )
    mode = models.CharField(max_length=20)
    filters = models.JSONField(default=dict, blank=True)
    results = models.PositiveIntegerField(help_text="Total hits of the search.")
    latency_ms = models.FloatField()
    session_id = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["created_at"], name="shopsearch_searchlog_time"),
            models.Index(fields=["normalized", "created_at"], name="shopsearch_searchlog_query"),
        ]

    def __str__(self) -> str:
        return f"{self.query!r} ({self.mode}, {self.results} results)"


class Synonym(models.Model):
    """Words keyword retrieval treats as one: a two-way group ("tee, t-shirt, tshirt") or one-way
    ("pants → trousers")."""

    class Kind(models.TextChoices):
        GROUP = "group", "two-way group: every term finds every other"
        ONE_WAY = "one_way", "one-way: the term also finds the synonyms, not the reverse"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.GROUP)
    term = models.CharField(max_length=200, blank=True, help_text="One-way only: the word or phrase the shopper types.")
    synonyms = models.TextField(help_text="Comma-separated words or phrases (a group lists all its members).")
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.term} → {self.synonyms}" if self.kind == self.Kind.ONE_WAY else self.synonyms

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        terms = [part.strip() for part in self.synonyms.split(",") if part.strip()]
        if self.kind == self.Kind.ONE_WAY and not self.term.strip():
            raise ValidationError({"term": "A one-way synonym needs the term the shopper types."})
        if self.kind == self.Kind.GROUP and len(terms) < 2:
            raise ValidationError({"synonyms": "A two-way group needs at least two comma-separated terms."})
        if not terms:
            raise ValidationError({"synonyms": "Give at least one synonym."})


class Rule(models.Model):
    """A merchandising rule for matching queries: pin a product at a position, boost, bury or hide it (rules.py)."""

    class Match(models.TextChoices):
        EXACT = "exact", "query is exactly"
        CONTAINS = "contains", "query contains"

    class Action(models.TextChoices):
        PIN = "pin", "pin at position"
        BOOST = "boost", "boost"
        BURY = "bury", "bury"
        HIDE = "hide", "hide"

    query = models.CharField(max_length=300, help_text="Compared with the normalised query (lower case, no accents).")
    match = models.CharField(max_length=10, choices=Match.choices, default=Match.EXACT)
    action = models.CharField(max_length=10, choices=Action.choices)
    product_id = models.CharField(max_length=64, help_text="The shop's product id.")
    position = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Pin: the 1-based position.")
    weight = models.FloatField(
        default=1.0, help_text="Boost/bury: how many places' worth of score to move (multiplier on the fused score)."
    )
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    note = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["enabled"], name="shopsearch_rule_enabled")]

    def __str__(self) -> str:
        where = f" at {self.position}" if self.action == self.Action.PIN else ""
        return f"{self.get_match_display()} {self.query!r}: {self.action} {self.product_id}{where}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if not self.query.strip():
            raise ValidationError({"query": "Say which query the rule is for."})
        if self.action == self.Action.PIN and not self.position:
            raise ValidationError({"position": "A pin needs the 1-based position to put the product at."})
        if self.action in (self.Action.BOOST, self.Action.BURY) and not self.weight > 0:
            raise ValidationError(
                {"weight": "Boost and bury need a weight above 0 (the score is multiplied or divided by 1 + weight)."}
            )
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "The rule must end after it starts."})


class ConsoleJob(models.Model):
    """A long action started from the owner's console (reindex, switch, roll back…), run by a worker.

    `job` names what may not run twice at once (all reindexes share one); the partial unique constraint refuses a
    second start while one is queued or running. Progress is `done` of `total`, written by the task as it goes.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        DONE = "done", "done"
        FAILED = "failed", "failed"

    job = models.CharField(max_length=50)
    action = models.CharField(max_length=50)
    arguments = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(null=True, blank=True)
    message = models.TextField(blank=True, default="")
    started_by = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["job"], condition=Q(status__in=["queued", "running"]), name="shopsearch_job_once"
            )
        ]
        indexes = [models.Index(fields=["created_at"], name="shopsearch_job_time")]
        permissions = [
            ("view_console", "Can see the shopsearch dashboard and analytics"),
            ("run_reindex", "Can reindex from the console"),
            ("switch_space", "Can switch search to another embedding space"),
            ("rollback_space", "Can roll search back to the previous space"),
            ("build_space", "Can build a new embedding space"),
            ("train_sentiment", "Can train the review sentiment classifier"),
            ("discover_aspects", "Can discover review aspects"),
            ("finetune", "Can fine-tune the embedding model"),
            ("compute_map", "Can compute the embedding map"),
        ]

    def __str__(self) -> str:
        return f"{self.action} ({self.status})"


class EmbeddingMap(models.Model):
    """A 2-D projection of one space's product vectors, for the console's map (embedding_map.py): the fitted
    projection as plain numbers (so a query is placed by the same one) and every product's coordinates."""

    space = models.OneToOneField(EmbeddingSpace, on_delete=models.CASCADE, related_name="map")
    method = models.CharField(max_length=20)
    mean = models.JSONField(help_text="the product vectors' mean, subtracted before projecting")
    components = models.JSONField(help_text="the two projection axes (unit vectors of the space)")
    explained_variance = models.JSONField(help_text="share of the vectors' variance along each axis")
    points = models.JSONField(help_text="[[product id, x, y], ...]")
    products = models.PositiveIntegerField()
    seconds = models.FloatField(help_text="how long reading the vectors and fitting took")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"map of space #{self.space_id} ({self.products} products, {self.method})"


class FineTune(models.Model):
    """A model fine-tuned from a space's model (finetune.py) and what its evaluation gate measured there: the
    dashboard lists them under the space they were made from. Kept when the model folder is pruned, as the record
    of what was tried and what it gained."""

    base_space = models.ForeignKey(
        EmbeddingSpace, null=True, on_delete=models.SET_NULL, related_name="finetunes", help_text="made from"
    )
    space = models.ForeignKey(
        EmbeddingSpace, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="the new model's"
    )
    model_folder = models.CharField(max_length=500)
    source = models.CharField(max_length=20, help_text="qrels, clicks or catalogue")
    pairs = models.PositiveIntegerField(help_text="training pairs used")
    evaluated_on = models.CharField(max_length=500, blank=True, default="", help_text="the held-out judged folder")
    evaluation = models.JSONField(
        default=dict, blank=True, help_text="finetune.compare: both spaces' figures per mode, and the hybrid gain"
    )
    margin = models.FloatField(null=True, blank=True, help_text="the hybrid nDCG@10 gain asked for to switch")
    accepted = models.BooleanField(default=False, help_text="switched on: search uses the new space")
    outcome = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.model_folder} from space #{self.base_space_id} ({'accepted' if self.accepted else 'kept off'})"

    def ndcg_at_10(self) -> list[dict]:
        """nDCG@10 of the base and the new space per evaluated mode, with the gain."""
        base, new = self.evaluation.get("base", {}), self.evaluation.get("finetuned", {})
        rows = []
        for mode in ("hybrid", "semantic"):
            if mode in base and mode in new:
                before, after = base[mode]["ndcg@10"], new[mode]["ndcg@10"]
                rows.append({"mode": mode, "before": before, "after": after, "gain": round(after - before, 4)})
        return rows


class TaskFailure(models.Model):
    """A Celery task of shopsearch's that failed for good (retries spent) or a console job that failed: the
    dashboard's "failed in the last 24 h" (tasks.record_failure, from Celery's task_failure signal)."""

    task = models.CharField(max_length=200)
    task_id = models.CharField(max_length=100, blank=True, default="")
    error = models.TextField()
    failed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["failed_at"], name="shopsearch_failure_time")]

    def __str__(self) -> str:
        return f"{self.task} failed at {self.failed_at:%Y-%m-%d %H:%M:%S}"
