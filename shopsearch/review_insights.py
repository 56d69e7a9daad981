"""What one product's reviews say: its sentiment summary, the sentence cache, aspects, and search inside its reviews.

A review often praises one thing and criticises another ("love the colour, but it runs small"), so aspects and
in-review search work on sentences, not whole reviews. Sentences live in `ReviewSentence` with their vector in the
active space, their sentiment (the space's review classifier applied to the sentence) and their similarity to each
configured aspect. The worker writes them when a review is indexed (a low-priority task behind the indexing), and
`refresh_all` (reindex, the periodic reconcile, a new classifier) catches up on reviews that have none; a request
only reads them, and says how many of the product's reviews are analysed. A deleted review takes its sentences with
it (cascade).

Sentence splitting is a small regular expression, not a library: no maintained splitter is installed here, nltk's
punkt needs a data download at run time, and reviews are informal (lower-case starts, no final stop, line breaks
between title and text), where punctuation plus line breaks is what the trained splitters also rely on.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Avg, Count, Exists, OuterRef
from django.db.models.functions import TruncMonth
from django.utils import timezone

from . import encoders, fit, search, sentiment, spaces, sql
from .conf import setting
from .exceptions import UnknownAspect
from .models import (
    SHOP_COLLECTION,
    DiscoveredAspect,
    Document,
    Embedding,
    EmbeddingSpace,
    ReviewSentence,
    SentimentClassifier,
)

# A sentence ends at . ! ? (with closing quotes or brackets) before white space, or at a line break.
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*(?=\s)|\n")
_ABBREVIATIONS = {"e.g", "i.e", "etc", "vs", "approx", "mr", "mrs", "ms", "dr", "st", "no", "jr", "sr"}
_LAST_WORD = re.compile(r"([a-z]+(?:\.[a-z]+)*)$", re.IGNORECASE)

logger = logging.getLogger(__name__)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the sentences of `text`, stripped of surrounding white space."""
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        if match.group() != "\n":
            before = _LAST_WORD.search(text[start : match.start()])
            if match.group().startswith(".") and before and before.group(1).lower() in _ABBREVIATIONS:
                continue
        end = match.start() if match.group() == "\n" else match.end()
        spans.append((start, end))
        start = match.end()
    spans.append((start, len(text)))
    result = []
    for begin, end in spans:
        segment = text[begin:end]
        stripped = segment.strip()
        if any(char.isalnum() for char in stripped):
            offset = begin + len(segment) - len(segment.lstrip())
            result.append((offset, offset + len(stripped)))
    return result


# --- the sentence cache ---------------------------------------------------------------------------------------


def _has_fresh_sentences(space: EmbeddingSpace) -> Exists:
    """For a review document queryset: its sentences in `space` were split from its current text and product."""
    return Exists(
        ReviewSentence.objects.filter(
            space=space,
            document=OuterRef("pk"),
            content_hash=OuterRef("content_hash"),
            product_id=OuterRef("product_id"),
        )
    )


def _stale_reviews(space: EmbeddingSpace, reviews) -> list[Document]:
    return list(reviews.filter(~_has_fresh_sentences(space)).only("pk", "text", "content_hash", "product_id"))


def build_sentences(space: EmbeddingSpace, reviews: Sequence[Document]) -> int:
    """(Re)write the sentences of these review documents in `space`: split, embed, label, score against the aspects.
    Returns sentences written."""
    rows = []
    for review in reviews:
        for position, (start, end) in enumerate(split_sentences(review.text)):
            rows.append(
                ReviewSentence(
                    space=space,
                    document=review,
                    product_id=review.product_id or "",
                    position=position,
                    start=start,
                    end=end,
                    text=review.text[start:end],
                    content_hash=review.content_hash,
                )
            )
    texts = [row.text for row in rows]
    if rows:
        vectors = spaces.encode_texts(space, texts)
        for row, vector in zip(rows, vectors, strict=True):
            row.vector = vector
        _label(space, rows, vectors)
        _score_aspects(space, rows, vectors)
    with transaction.atomic():
        ReviewSentence.objects.filter(space=space, document__in=[review.pk for review in reviews]).delete()
        ReviewSentence.objects.bulk_create(
            rows, batch_size=1000, ignore_conflicts=True
        )  # a concurrent build wrote the same
    return len(rows)


def _label(space: EmbeddingSpace, rows: Sequence[ReviewSentence], vectors: np.ndarray) -> None:
    """Set (not save) the sentiment of sentences (`vectors`: theirs, in order) with the space's active classifier,
    if it has one."""
    classifier = sentiment.active_classifier(space)
    if classifier is None or not rows:
        return
    predictions = sentiment.predict(classifier.weights, vectors, [row.text for row in rows], negation=True)
    for row, prediction in zip(rows, predictions, strict=True):
        row.sentiment_label, row.sentiment_score, row.sentiment_classifier = (
            prediction.label,
            prediction.score,
            classifier,
        )


def aspects_version() -> str:
    """Fingerprint of the configured aspects' names and phrases: stored similarities are for these."""
    phrases = [(aspect.name, aspect.phrases) for aspect in configured_aspects()]
    return hashlib.sha256(json.dumps(phrases).encode()).hexdigest()[:16]


def _score_aspects(space: EmbeddingSpace, rows: Sequence[ReviewSentence], vectors: np.ndarray) -> None:
    """Set (not save) each sentence's cosine similarity to every configured aspect's nearest phrase."""
    if not rows:
        return
    similarities = {
        aspect.name: (vectors @ _phrase_vectors(space.model_name, aspect.phrases).T).max(axis=1)
        for aspect in configured_aspects()
    }
    version = aspects_version()
    for i, row in enumerate(rows):
        row.aspect_similarity = {name: round(float(values[i]), 4) for name, values in similarities.items()}
        row.aspects_version = version


def analysed(space: EmbeddingSpace, product_id: str) -> int:
    """How many of the product's reviews have up-to-date sentences (the rest are still waiting for the worker)."""
    reviews = Document.objects.filter(collection=SHOP_COLLECTION, kind="review", product_id=str(product_id))
    return reviews.filter(_has_fresh_sentences(space)).count()


def refresh_all(space: EmbeddingSpace, batch_size: int | None = None) -> int:
    """Bring every review's sentences in `space` up to date, in batches: split and embed reviews that have none or
    stale ones, re-score sentences scored against other aspect phrases, relabel those a previous classifier labelled.
    What reindex and the periodic reconcile run; returns sentences written."""
    batch_size = batch_size or setting("REINDEX_BATCH_SIZE")
    written = 0
    stale = _stale_reviews(space, Document.objects.filter(collection=SHOP_COLLECTION, kind="review").order_by("pk"))
    for start in range(0, len(stale), batch_size):
        written += build_sentences(space, stale[start : start + batch_size])
    changed = {review.product_id for review in stale}
    classifier = sentiment.active_classifier(space)
    version = aspects_version()
    behind = ReviewSentence.objects.filter(space=space).exclude(aspects_version=version)
    if classifier is not None:
        behind = behind | ReviewSentence.objects.filter(space=space).exclude(sentiment_classifier=classifier)
    while rows := list(behind.order_by("pk")[:2000]):
        vectors = np.asarray([np.asarray(row.vector, dtype=np.float32) for row in rows])
        _label(space, rows, vectors)
        _score_aspects(space, rows, vectors)
        ReviewSentence.objects.bulk_update(
            rows, ["sentiment_label", "sentiment_score", "sentiment_classifier", "aspect_similarity", "aspects_version"]
        )
        written += len(rows)
        changed |= {row.product_id for row in rows}
    warm(space, changed)
    return written


def train_sentiment(
    space: EmbeddingSpace, path: Path | None = None, holdout: float = 0.0
) -> tuple[SentimentClassifier, dict]:
    """Train the space's review classifier (sentiment.train_classifier: from the shop's star ratings, or a reviews
    file) and bring the review sentences under its labels too, so aspects and in-review search agree with it."""
    classifier, result = sentiment.train_classifier(space, path, holdout)
    refresh_all(space)
    return classifier, result


def refresh_sentences(review_ids: Iterable[str]) -> int:
    """Re-split changed reviews in the active space (the worker's low-priority pass after indexing them)."""
    space = spaces.active_space()
    if space is None:
        return 0
    documents = Document.objects.filter(
        collection=SHOP_COLLECTION, kind="review", object_id__in=[str(i) for i in review_ids]
    )
    product_of = dict(documents.values_list("pk", "product_id"))
    # a review moved to another product leaves the old product's sentences (by id: a join delete over tables the
    # planner has no statistics for yet ran for minutes)
    sentences = ReviewSentence.objects.filter(space=space, document_id__in=list(product_of)).values_list(
        "pk", "document_id", "product_id"
    )
    moved = [
        (pk, product_id) for pk, document_id, product_id in sentences if product_id != (product_of[document_id] or "")
    ]
    if moved:
        ReviewSentence.objects.filter(pk__in=[pk for pk, _ in moved]).delete()
    stale = _stale_reviews(space, documents)
    written = build_sentences(space, stale) if stale else 0
    warm(space, {*product_of.values(), *(product_id for _, product_id in moved)})
    return written


# --- aspects --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Aspect:
    name: str
    source: str  # "configured" (matched by meaning) or "discovered" (matched by the word)
    phrases: tuple[str, ...] = ()
    forms: tuple[str, ...] = ()
    threshold: float | None = None  # configured: least cosine similarity to a phrase


def configured_aspects() -> list[Aspect]:
    default = float(setting("SENTIMENT_ASPECT_THRESHOLD"))
    return [
        Aspect(
            str(item["name"]),
            "configured",
            phrases=tuple(item["phrases"]),
            threshold=float(item.get("threshold", default)),
        )
        for item in setting("SENTIMENT_ASPECTS")
    ]


def known_aspects(space: EmbeddingSpace | None) -> list[Aspect]:
    """The configured aspects, then those discovered in the shop's reviews (in `space`)."""
    discovered = DiscoveredAspect.objects.filter(space=space).order_by("-sentences") if space is not None else []
    configured = configured_aspects()
    names = {aspect.name for aspect in configured}
    return configured + [Aspect(d.name, "discovered", forms=tuple(d.forms)) for d in discovered if d.name not in names]


@lru_cache(maxsize=32)
def _phrase_vectors(model_name: str, phrases: tuple[str, ...]) -> np.ndarray:
    return np.asarray(encoders.get_encoder(model_name).encode(list(phrases)), dtype=np.float32)


def _mentions(pattern_forms: Sequence[str]) -> str:
    """A discovered aspect's forms as a case-insensitive PostgreSQL regular expression, whole words only."""
    return r"\m(?:" + "|".join(re.escape(form) for form in pattern_forms) + r")\M"


# Per aspect (configured: the sentences at least its threshold similar to its phrases, best first; discovered: those
# naming it, most opinionated first): mentions, reviews, labels, and the first distinct examples. One statement over the
# product's sentences (the (space, product) index), aggregated in the database: the product with most reviews has
# about 5,000 sentences, and reading them all into Python to count them took most of a cold answer's time.
_ASPECTS = """
    WITH sentence AS MATERIALIZED (
        SELECT document_id, position, text, sentiment_label, sentiment_score, aspect_similarity
        FROM shopsearch_reviewsentence WHERE space_id = %s AND product_id = %s),
    aspect AS (SELECT * FROM unnest(%s::text[], %s::float8[], %s::text[])
               WITH ORDINALITY AS a(name, threshold, pattern, n)),
    mention AS (
        SELECT a.n, s.*, CASE WHEN a.pattern IS NULL THEN (s.aspect_similarity ->> a.name)::float8
                              ELSE abs(coalesce(s.sentiment_score, 0)) END AS weight
        FROM aspect a JOIN sentence s ON CASE WHEN a.pattern IS NULL
                                              THEN (s.aspect_similarity ->> a.name)::float8 >= a.threshold
                                              ELSE s.text ~* a.pattern END),
    total AS (
        SELECT n, count(*) AS mentions, count(DISTINCT document_id) AS reviews,
               count(*) FILTER (WHERE sentiment_label = 'negative') AS negative,
               count(*) FILTER (WHERE sentiment_label = 'positive') AS positive,
               count(sentiment_label) FILTER (WHERE sentiment_label <> '') AS labelled
        FROM mention GROUP BY n),
    example AS (  -- a sentence said in several reviews ("Runs small.", "runs small") is shown once
        SELECT * FROM (
            SELECT u.*, row_number() OVER (PARTITION BY n ORDER BY weight DESC, document_id, position) AS rank
            FROM (SELECT DISTINCT ON (n, lower(btrim(text, ' .!'))) m.* FROM mention m
                  ORDER BY n, lower(btrim(text, ' .!')), weight DESC, document_id, position) u) ranked
        WHERE rank <= %s)
    SELECT t.n, t.mentions, t.reviews, t.negative, t.positive, t.labelled,
           e.text, d.object_id, e.sentiment_label, e.sentiment_score, e.weight
    FROM total t LEFT JOIN example e ON e.n = t.n LEFT JOIN shopsearch_document d ON d.id = e.document_id
    ORDER BY t.n, e.rank"""


def product_aspects(space: EmbeddingSpace, product_id: str, only: str | None = None) -> list[dict]:
    """Per aspect: how many of the product's review sentences talk about it, their share negative / positive, and
    the most typical ones. Configured aspects match by cosine similarity to their phrases (at least
    the aspect's threshold), discovered ones by the word. Aspects without mentions are listed with zeros."""
    aspects = known_aspects(space)
    if only is not None:
        aspects = [aspect for aspect in aspects if aspect.name == only]
        if not aspects:
            raise UnknownAspect(only)
    with connection.cursor() as cursor:
        cursor.execute(
            _ASPECTS,
            [
                space.pk,
                str(product_id),
                [aspect.name for aspect in aspects],
                [aspect.threshold if aspect.source == "configured" else None for aspect in aspects],
                [_mentions(aspect.forms) if aspect.source == "discovered" else None for aspect in aspects],
                int(setting("ASPECT_EXAMPLES")),
            ],
        )
        rows = cursor.fetchall()
    found: dict[int, list[tuple]] = defaultdict(list)
    for row in rows:
        found[row[0]].append(row)
    result = []
    for n, aspect in enumerate(aspects, 1):
        mentioned = found.get(n)
        _, mentions, reviews, negative, positive, labelled = mentioned[0][:6] if mentioned else (n, 0, 0, 0, 0, 0)
        result.append(
            {
                "name": aspect.name,
                "source": aspect.source,
                "mentions": mentions,
                "reviews": reviews,
                "share_negative": round(negative / labelled, 4) if labelled else 0.0,
                "share_positive": round(positive / labelled, 4) if labelled else 0.0,
                "examples": [
                    {
                        "sentence": text,
                        "review": review,
                        "sentiment": label,
                        "score": round(score, 3) if score is not None else None,
                        "similarity": round(weight, 4) if aspect.source == "configured" else None,
                    }
                    for *_, text, review, label, score, weight in mentioned or ()
                ],
            }
        )
    return result


def rating_months(product_id: str) -> list[dict]:
    """Per month of the reviews' dates, oldest first: how many reviews and their mean star rating (no classifier
    needed: the stars are the shoppers' own)."""
    rows = (
        Document.objects.filter(
            collection=SHOP_COLLECTION,
            kind="review",
            product_id=str(product_id),
            rating__isnull=False,
            published_at__isnull=False,
        )
        .annotate(month=TruncMonth("published_at"))
        .values("month")
        .annotate(reviews=Count("pk"), mean=Avg("rating"))
        .order_by("month")
    )
    return [
        {
            "month": row["month"].strftime("%Y-%m"),
            "reviews": row["reviews"],
            "mean_rating": round(float(row["mean"]), 2),
        }
        for row in rows
    ]


# The product's embedded reviews in a space (`e`, their documents `d`): parameters space, collection, product.
_PRODUCT_REVIEWS = """
    FROM shopsearch_embedding e JOIN shopsearch_document d ON d.id = e.document_id
    WHERE e.space_id = %s AND e.kind = 'review' AND d.kind = 'review' AND d.collection = %s AND d.product_id = %s"""


def product_summary(space: EmbeddingSpace, product_id: str, snippet_length: int = 240) -> dict:
    """What a product's reviews say: counts per label, share positive, mean score, a monthly trend and the most
    helpful positive and negative review. A product without reviews gets zeros, not an error. Its three statements
    go in one round trip."""
    reviews = [space.pk, SHOP_COLLECTION, str(product_id)]
    with connection.cursor() as cursor:
        labels, months, helpful = sql.run_batch(
            cursor,
            [
                (  # per label, and over all of them (GROUPING 1): reviews, and the mean score of the labelled ones
                    "SELECT GROUPING(e.sentiment_label), e.sentiment_label, count(*), "
                    "avg(e.sentiment_score) FILTER (WHERE e.sentiment_label IS NOT NULL)"
                    f"{_PRODUCT_REVIEWS} GROUP BY GROUPING SETS ((e.sentiment_label), ())",
                    reviews,
                ),
                (
                    "SELECT date_trunc('month', d.published_at AT TIME ZONE %s) AS month, count(*), "
                    "avg(e.sentiment_score), count(*) FILTER (WHERE e.sentiment_label = 'positive')"
                    f"{_PRODUCT_REVIEWS} AND e.sentiment_label IS NOT NULL AND d.published_at IS NOT NULL "
                    "GROUP BY month ORDER BY month",
                    [timezone.get_current_timezone_name(), *reviews],
                ),
                (
                    "SELECT DISTINCT ON (e.sentiment_label) e.sentiment_label, d.object_id, d.helpful_votes, "
                    f"e.sentiment_score, d.text{_PRODUCT_REVIEWS} AND e.sentiment_label IN ('positive', 'negative') "
                    "ORDER BY e.sentiment_label, d.helpful_votes DESC, d.published_at DESC, e.id",
                    reviews,
                ),
            ],
        )
    counts = {label: 0 for label in sentiment.LABELS}
    everything, mean_score = 0, None
    for grouping, label, n, mean in labels:
        if grouping:
            everything, mean_score = n, mean
        elif label is not None:
            counts[label] = n
    total = sum(counts.values())

    def snippet(label: str) -> dict | None:
        best = next((row for row in helpful if row[0] == label), None)
        if best is None:
            return None
        _, review, votes, score, text = best
        return {
            "review": review,
            "helpful_votes": votes,
            "score": round(score, 3),
            "snippet": text if len(text) <= snippet_length else text[: snippet_length - 1].rsplit(" ", 1)[0] + "…",
        }

    return {
        "product": str(product_id),
        "reviews": everything,
        "labelled": total,
        "classifier": sentiment.status(space),
        "counts": counts,
        "share_positive": round(counts["positive"] / total, 4) if total else 0.0,
        "mean_score": round(mean_score or 0.0, 4),
        "trend": [
            {
                "month": month.strftime("%Y-%m"),
                "reviews": n,
                "share_positive": round(positive / n, 4),
                "mean_score": round(mean, 4),
            }
            for month, n, mean, positive in months
        ],
        "most_helpful_positive": snippet("positive"),
        "most_helpful_negative": snippet("negative"),
    }


def product_fit(space: EmbeddingSpace, product_id: str) -> dict | None:
    """Which way the product's size errs (fit.product_fit), read from its sentences about the FIT_ASPECT aspect;
    None where that aspect is not configured."""
    aspect = next((a for a in configured_aspects() if a.name == setting("FIT_ASPECT")), None)
    if aspect is None:
        return None
    with connection.cursor() as cursor:  # only the aspect's sentences leave the database
        cursor.execute(
            "SELECT document_id, text FROM shopsearch_reviewsentence WHERE space_id = %s AND product_id = %s "
            "AND (aspect_similarity ->> %s)::float8 >= %s ORDER BY document_id, position",
            [space.pk, str(product_id), aspect.name, aspect.threshold],
        )
        rows = cursor.fetchall()
    by_review: dict[int, list[str]] = defaultdict(list)
    for document_id, text in rows:
        by_review[document_id].append(text)
    return fit.product_fit(by_review)


def _compute_sentiment(space: EmbeddingSpace, product_id: str) -> dict:
    return {
        **product_summary(space, product_id),
        "analysed": analysed(space, product_id),
        "aspects": product_aspects(space, product_id),
        "fit": product_fit(space, product_id),
    }


# What an answer is computed from, per product: its review documents (text, votes, dates: updated_at), their labels
# (sum of scores moves with any relabelling), their sentences (rewritten rows get new ids; relabelled or re-scored
# ones move the sums and counts), the space's discovered aspects (recreated on every discovery) and classifier.
_FINGERPRINT = """
    SELECT (SELECT array[count(d.id)::text, max(d.updated_at)::text, count(e.id)::text, count(e.sentiment_label)::text,
    sum(e.sentiment_score)::text]
            FROM shopsearch_document d LEFT JOIN shopsearch_embedding e ON e.document_id = d.id AND e.space_id =
            %(space)s
            WHERE d.collection = %(collection)s AND d.kind = 'review' AND d.product_id = %(product)s),
           (SELECT array[count(*)::text, max(id)::text, sum(sentiment_score)::text, count(*) FILTER (WHERE
           aspects_version = %(version)s)::text]
            FROM shopsearch_reviewsentence WHERE space_id = %(space)s AND product_id = %(product)s),
           (SELECT array[count(*)::text, max(id)::text] FROM shopsearch_discoveredaspect WHERE space_id = %(space)s),
           (SELECT max(id) FROM shopsearch_sentimentclassifier WHERE space_id = %(space)s AND is_active)"""
_ANSWER_SETTINGS = (
    "SENTIMENT_ASPECTS",
    "SENTIMENT_ASPECT_THRESHOLD",
    "ASPECT_EXAMPLES",
    "FIT_ASPECT",
    "FIT_MIN_REVIEWS",
)


def _cache_key(space: EmbeddingSpace, product_id: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            _FINGERPRINT,
            {
                "space": space.pk,
                "collection": SHOP_COLLECTION,
                "product": str(product_id),
                "version": aspects_version(),
            },
        )
        state = cursor.fetchone()
    answer_settings = json.dumps([setting(name) for name in _ANSWER_SETTINGS], sort_keys=True, default=str)
    digest = hashlib.sha256(
        json.dumps([space.pk, str(product_id), state, answer_settings], default=str).encode()
    ).hexdigest()[:32]
    return f"shopsearch:product-sentiment:{digest}"


def product_sentiment(space: EmbeddingSpace, product_id: str, aspect: str | None = None) -> dict:
    """The product's sentiment summary (product_summary) with its aspects, which way its size errs, and how many of
    its reviews the worker has analysed sentence by sentence (the aspects count only those); `aspect` keeps one.

    The answer is cached under a fingerprint of everything it is computed from (one indexed query), so a cached
    answer is never stale: any new, edited, relabelled or re-analysed review changes the key. The worker computes
    it when it has analysed a product's reviews (`warm`), so the first shopper does not wait for it either."""
    key = _cache_key(space, product_id)
    try:
        answer = cache.get(key)
    except Exception as exc:  # no cache: correct but slower
        logger.warning("shopsearch: the cache does not answer (%s); computing the product's sentiment", exc)
        answer = None
    if answer is None:
        answer = _compute_sentiment(space, product_id)
        try:
            cache.set(key, answer, timeout=setting("REVIEW_INSIGHTS_CACHE_SECONDS"))
        except Exception:
            logger.warning("shopsearch: could not cache the sentiment of product %s", product_id)
    if aspect is not None:
        answer = {**answer, "aspects": [row for row in answer["aspects"] if row["name"] == aspect]}
        if not answer["aspects"]:
            raise UnknownAspect(aspect)
    return answer


def warm(space: EmbeddingSpace, product_ids: Iterable[str]) -> None:
    """Compute and cache the sentiment answers of these products (the worker, after analysing their reviews)."""
    for product_id in sorted({str(p) for p in product_ids if p}):
        product_sentiment(space, product_id)


# --- discovered aspects ---------------------------------------------------------------------------------------

# A word named as a thing: after an article or possessive ("the waist", "my shoulders").
_NAMED = re.compile(r"\b(?:the|my|its|her|his|their|your)\s+([a-z]{3,})\b[ \t]*(\S*)")


def _singular(word: str, counts: Counter) -> str:
    """The singular of `word` when the reviews also name it so ("sleeves" -> "sleeve", "dresses" -> "dress")."""
    if re.search(r"(?:s|x|ch|sh)es$", word) and counts.get(word[:-2], 0) >= 2:
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and counts.get(word[:-1], 0) >= 2:
        return word[:-1]
    return word


def discover_aspects(space: EmbeddingSpace) -> list[DiscoveredAspect]:
    """Find and store the words the shop's reviews talk about that no configured aspect covers.

    A candidate is a word reviewers name as a thing ("the waist", "my shoulders") in at least
    ASPECT_DISCOVERY_MIN_SENTENCES sentences of ASPECT_DISCOVERY_MIN_PRODUCTS products, that is usually the head of
    its phrase (followed by punctuation or a function word: "the waist is", not "the usual size"), that is neither
    a stop word, a sentiment word (VADER's lexicon) nor a word of the product catalogue ("dress"), and whose vector
    stays below SENTIMENT_ASPECT_THRESHOLD to every configured aspect phrase ("fabric" is already an aspect).
    """
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    sentences: Counter = Counter()
    heads: Counter = Counter()
    products: dict[str, set] = defaultdict(set)
    reviews = Document.objects.filter(collection=SHOP_COLLECTION, kind="review").values_list("text", "product_id")
    for text, product in reviews.iterator(chunk_size=2000):
        for start, end in split_sentences(text):
            named = _NAMED.findall(text[start:end].lower())
            for word, following in named:
                heads[word] += not following[:1].isalnum() or following.strip(".,!?;:)'\"") in ENGLISH_STOP_WORDS
            for word in {word for word, _ in named}:
                sentences[word] += 1
                products[word].add(product)
    catalogue: set[str] = set()
    for title, category, attributes in Document.objects.filter(collection=SHOP_COLLECTION, kind="product").values_list(
        "title", "category", "attributes"
    ):
        catalogue.update(
            re.findall(r"[a-z]+", f"{title} {category or ''} {' '.join(map(str, (attributes or {}).values()))}".lower())
        )
    catalogue |= {_singular(word, sentences) for word in catalogue}
    merged: dict[str, dict] = {}
    for word, count in sentences.items():
        entry = merged.setdefault(
            _singular(word, sentences), {"forms": [], "sentences": 0, "heads": 0, "products": set()}
        )
        entry["forms"].append(word)
        entry["sentences"] += count
        entry["heads"] += heads[word]
        entry["products"] |= products[word]
    lexicon = SentimentIntensityAnalyzer().lexicon
    candidates = [
        (name, entry)
        for name, entry in merged.items()
        if entry["sentences"] >= setting("ASPECT_DISCOVERY_MIN_SENTENCES")
        and len(entry["products"]) >= setting("ASPECT_DISCOVERY_MIN_PRODUCTS")
        and entry["heads"] >= entry["sentences"] / 2
        and name not in ENGLISH_STOP_WORDS
        and name not in lexicon
        and name not in catalogue
    ]
    candidates.sort(key=lambda item: (-item[1]["sentences"], item[0]))
    phrases = tuple(phrase for aspect in configured_aspects() for phrase in aspect.phrases)
    if candidates and phrases:
        similarity = (
            np.asarray(encoders.get_encoder(space.model_name).encode([name for name, _ in candidates]))
            @ _phrase_vectors(space.model_name, phrases).T
        )
        candidates = [
            item
            for item, s in zip(candidates, similarity.max(axis=1), strict=True)
            if s < float(setting("SENTIMENT_ASPECT_THRESHOLD"))
        ]
    kept = [  # named by its most frequent form ("sleeves", not "sleeve")
        DiscoveredAspect(
            space=space,
            name=max(entry["forms"], key=lambda form: (sentences[form], form)),
            forms=sorted(entry["forms"]),
            sentences=entry["sentences"],
            products=len(entry["products"]),
        )
        for _, entry in candidates[: int(setting("ASPECT_DISCOVERY_MAX"))]
    ]
    with transaction.atomic():
        DiscoveredAspect.objects.filter(space=space).delete()
        DiscoveredAspect.objects.bulk_create(kept)
    return kept


# --- search inside one product's reviews ---------------------------------------------------------------------------


@dataclass
class ReviewHit:
    review: str
    rating: int | None
    sentence: str
    score: float  # cosine similarity of the best sentence to the query
    sentiment: str | None  # the sentence's label
    review_sentiment: str | None  # the whole review's label
    highlight: str  # the review, HTML-escaped, the matching sentence in <mark>


def search_reviews(
    space: EmbeddingSpace,
    product_id: str,
    query: str,
    page: int = 1,
    page_size: int = 20,
    rating: int | None = None,
    context: int = 300,
) -> tuple[list[ReviewHit], bool]:
    """One page of the product's reviews ranked by their sentence closest in meaning to `query`; and whether
    more follow. An exact scan: one product's sentences are few. Reviews the worker has not analysed yet are not
    among them."""
    literal = sql.vector_param(search.encode_query(space, query))
    where, params = "", []
    if rating is not None:
        where, params = " AND d.rating = %s", [rating]
    statement = f"""
        SELECT * FROM (
            SELECT DISTINCT ON (s.document_id) s.document_id, s.start, s."end", s.sentiment_label,
                   1 - ({sql.distance("s.vector", space)}) AS similarity
            FROM shopsearch_reviewsentence s JOIN shopsearch_document d ON d.id = s.document_id
            WHERE s.space_id = %s AND s.product_id = %s{where}
            ORDER BY s.document_id, similarity DESC
        ) best ORDER BY similarity DESC, document_id LIMIT %s OFFSET %s"""
    with connection.cursor() as cursor:
        cursor.execute(statement, [literal, space.pk, str(product_id), *params, page_size + 1, (page - 1) * page_size])
        ranked = cursor.fetchall()
    documents = Document.objects.only("object_id", "text", "rating").in_bulk([row[0] for row in ranked[:page_size]])
    review_labels = dict(
        Embedding.objects.filter(space=space, document__in=list(documents)).values_list(
            "document_id", "sentiment_label"
        )
    )
    hits = []
    for doc_id, start, end, label, similarity in ranked[:page_size]:
        doc = documents[doc_id]
        hits.append(
            ReviewHit(
                review=doc.object_id,
                rating=doc.rating,
                sentence=doc.text[start:end],
                score=round(float(similarity), 4),
                sentiment=label,
                review_sentiment=review_labels.get(doc_id),
                highlight=_highlight(doc.text, start, end, context),
            )
        )
    return hits, len(ranked) > page_size


def _highlight(text: str, start: int, end: int, context: int) -> str:
    """The sentence in <mark> with up to `context` characters of the review around it, HTML-escaped."""
    left, right = max(0, start - context), min(len(text), end + context)
    return (
        ("…" if left else "")
        + html.escape(text[left:start])
        + "<mark>"
        + html.escape(text[start:end])
        + "</mark>"
        + html.escape(text[end:right])
        + ("…" if right < len(text) else "")
    )
