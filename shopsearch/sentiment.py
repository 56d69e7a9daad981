"""Review sentiment from the vectors the workers already compute, the review's words and a lexicon; trained from
star ratings.

Why this shape: the review embeddings are paid for anyway, so a linear classifier on them adds almost nothing to
the worker's time per review. Each of three feature groups covers another's blind spot: the embedding carries the
shop's domain and paraphrase; TF-IDF word and bigram weights learned from the same ratings catch the sharp cues an
embedding of a long review blurs ("not worth", "returned it"); a sentiment lexicon (VADER) brings polarity learned
outside the shop, which keeps working on review styles the shop has not seen. One logistic regression weighs all
three. Ratings map to labels as 1-2 negative, 3 neutral, 4-5 positive.

A regression trained on one shop trusts that shop's cues ("huge" is bad news for a dress, good news for a portion),
so on text unlike its training reviews it falls back, step by step, to domain-general signals: the VADER compound
and the text's position between embedded generic praise and complaint (`GENERAL_EXAMPLES`, no training). How far a
text is from the training reviews is its cosine to the nearest of `DOMAIN_CLUSTERS` k-means centroids of them,
against the 5th percentile of the training reviews' own. A classifier is tied to the embedding space
whose vectors it was trained on and is never applied to another; the repo ships one trained on the CC0 clothing
reviews (`data/sentiment_default.json.gz`) for shops without ratings.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from django.db import transaction

from . import registry, spaces
from .conf import setting
from .exceptions import SentimentError
from .models import Embedding, EmbeddingSpace, SentimentClassifier

LABELS = ("negative", "neutral", "positive")
FEATURES = (
    "tfidf+embedding+vader:v2+general-fallback"  # changes when the recipe changes; part of every saved classifier
)
LEXICON_FEATURES = 3
DOMAIN_CLUSTERS = 64  # k-means centroids that outline the training reviews
IN_DOMAIN_PERCENTILE = (
    5  # training reviews below this similarity to their nearest centroid already lean on the fallback
)
# Generic praise and complaint about any purchase: the domain-general direction in the embedding space. Written for
# no particular shop (and not tuned on any data set); the space's model embeds them when a classifier is trained.
GENERAL_EXAMPLES = {
    "positive": (
        "I love it.",
        "Great, I highly recommend it.",
        "Excellent quality, very happy with it.",
        "This is wonderful.",
        "Best purchase ever, works perfectly.",
    ),
    "negative": (
        "I hate it.",
        "Terrible, I do not recommend it.",
        "Poor quality, very disappointed.",
        "This is awful.",
        "Worst purchase ever, a waste of money.",
    ),
}
DEFAULT_CLASSIFIER = Path(__file__).resolve().parent / "data" / "sentiment_default.json.gz"


def label_for_rating(rating: int) -> str:
    return "negative" if rating <= 2 else "neutral" if rating == 3 else "positive"


@lru_cache(maxsize=1)
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def _lexicon(texts: Sequence[str]) -> np.ndarray:
    """VADER's compound, positive and negative scores per text."""
    analyzer = _vader()
    scores = np.array(
        [[s["compound"], s["pos"], s["neg"]] for s in map(analyzer.polarity_scores, texts)], dtype=np.float32
    )
    return scores.reshape(len(texts), LEXICON_FEATURES)


def _new_vectorizer(**fitted):
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        ngram_range=(1, 2), min_df=setting("SENTIMENT_MIN_TERM_REVIEWS"), sublinear_tf=True, dtype=np.float32, **fitted
    )


def _features(
    vectorizer,
    lexicon_weight: float,
    vectors: np.ndarray,
    texts: Sequence[str],
    lexicon: np.ndarray,
    negation: bool = False,
):
    """The regression's input: TF-IDF of the text, the review vector, the lexicon scores (times
    SENTIMENT_LEXICON_WEIGHT).
    With `negation`, words said only inside a negation's scope count against their learned polarity (`_negated`)."""
    from scipy import sparse

    dense = np.hstack([np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1), lexicon_weight * lexicon])
    words = vectorizer.transform(texts)
    return sparse.hstack(
        [_negated(vectorizer, texts, words) if negation else words, sparse.csr_matrix(dense)], format="csr"
    )


# Negation scope (as in Das & Chen 2001, Pang et al. 2002): from a negator to the next punctuation or contrast word,
# at most NEGATION_SCOPE words. "not see through", "doesn't wrinkle at all", "no complaints": the regression learned
# "see through", "wrinkle" and "complaints" from reviews that complain, so inside a scope they must count the other way.
NEGATORS = frozenset({"not", "no", "never", "without", "nothing", "none", "nor", "cannot", "hardly"})
NEGATION_ENDS = frozenset({"but", "however", "although", "though", "yet", "except", "still"})
NEGATION_SCOPE = 5
_CONTRACTED_NOT = ("'t", "\u2019t")  # didn't, isn't, can't (the tokenizer keeps "didn", "isn", "can")
_SCOPE_BREAK = re.compile(r"[.,;:!?()\[\]\n]")


def _negated(vectorizer, texts: Sequence[str], words):
    """TF-IDF rows with the sign flipped for each word or word pair that occurs in the text only inside negation
    scopes; n-grams that contain the negator itself ("not disappointed" when it is a feature) keep what they learned."""
    words = words.tocsr(copy=True)
    pattern = re.compile(vectorizer.token_pattern)
    for row, text in enumerate(texts):
        lowered = text.lower()
        tokens = [(m.group(), m.start(), m.end()) for m in pattern.finditer(lowered)]
        scoped, left, gap_start = [], 0, 0
        for token, start, end in tokens:
            if _SCOPE_BREAK.search(lowered, gap_start, start) or token in NEGATION_ENDS:
                left = 0
            scoped.append(left > 0)
            left = max(left - 1, 0)
            if token in NEGATORS or lowered.startswith(_CONTRACTED_NOT, end):
                left = NEGATION_SCOPE
            gap_start = end
        inside, outside = set(), set()
        for i, (token, _, _) in enumerate(tokens):
            (inside if scoped[i] else outside).add(token)
            if i:
                (inside if scoped[i] and scoped[i - 1] else outside).add(f"{tokens[i - 1][0]} {token}")
        flip = {vectorizer.vocabulary_[gram] for gram in inside - outside if gram in vectorizer.vocabulary_}
        if flip:
            begin, stop = words.indptr[row], words.indptr[row + 1]
            for k in range(begin, stop):
                if words.indices[k] in flip:
                    words.data[k] = -words.data[k]
    return words


def general_anchors(space: EmbeddingSpace) -> np.ndarray:
    """Mean vectors of GENERAL_EXAMPLES' positive and negative statements in `space` (rows 0 and 1)."""
    return np.vstack(
        [spaces.encode_texts(space, list(GENERAL_EXAMPLES[label])).mean(axis=0) for label in ("positive", "negative")]
    )


def _general_scale(vectors: np.ndarray, anchors: np.ndarray) -> dict:
    """The generic praise-minus-complaint direction, the midpoint between the two and the spread of the training
    vectors along it: what turns a vector into a general score in (-1, 1)."""
    direction = anchors[0] - anchors[1]
    direction /= np.linalg.norm(direction)
    middle = float(anchors.mean(axis=0) @ direction)
    return {
        "direction": direction.round(6).tolist(),
        "middle": middle,
        "spread": float(np.std(vectors @ direction - middle)) or 1.0,
    }


def _domain(vectors: np.ndarray) -> dict:
    """Centroids of the training vectors and the similarity below which a text counts as partly outside them."""
    from sklearn.cluster import KMeans

    clusters = max(1, min(DOMAIN_CLUSTERS, len(vectors) // 20))
    centroids = KMeans(clusters, n_init=1, random_state=0).fit(vectors).cluster_centers_
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    edge = float(np.percentile((vectors @ centroids.T).max(axis=1), IN_DOMAIN_PERCENTILE))
    return {"centroids": centroids.round(5).tolist(), "edge": max(edge, 1e-6)}


@dataclass(frozen=True)
class _Model:
    """Saved weights as arrays, ready to apply."""

    vectorizer: object
    lexicon_weight: float
    coef: np.ndarray  # features x labels
    intercept: np.ndarray
    labels: tuple[str, ...]
    direction: np.ndarray  # generic praise minus complaint, unit length
    middle: float
    spread: float
    centroids: np.ndarray  # of the training vectors, unit length
    edge: float

    @classmethod
    def from_weights(cls, weights: dict) -> _Model:
        vectorizer = _new_vectorizer(vocabulary={term: column for column, term in enumerate(weights["vocabulary"])})
        vectorizer.idf_ = np.asarray(weights["idf"], dtype=np.float32)
        coef = np.asarray(weights["coef"], dtype=np.float32).T
        general, domain = weights["general"], weights["domain"]
        return cls(
            vectorizer,
            weights["lexicon_weight"],
            coef,
            np.asarray(weights["intercept"], dtype=np.float32),
            tuple(weights["labels"]),
            np.asarray(general["direction"], dtype=np.float32),
            general["middle"],
            general["spread"],
            np.asarray(domain["centroids"], dtype=np.float32),
            domain["edge"],
        )

    def probabilities(
        self, vectors: np.ndarray, texts: Sequence[str], fallback: bool = True, negation: bool = False
    ) -> np.ndarray:
        """Per text, the probability of each of LABELS (in that order): the regression's (its word features read
        negation scopes unless `negation` is off), blended with the general signal's as far as the text lies outside
        the training reviews."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)
        lexicon = _lexicon(texts)
        logits = (
            np.asarray(
                _features(self.vectorizer, self.lexicon_weight, vectors, texts, lexicon, negation=negation) @ self.coef
            )
            + self.intercept
        )
        logits -= logits.max(axis=1, keepdims=True)
        learned = np.exp(logits)
        learned /= learned.sum(axis=1, keepdims=True)
        learned = learned[:, [self.labels.index(label) for label in LABELS]]
        if not fallback:
            return learned
        general = (np.tanh((vectors @ self.direction - self.middle) / self.spread) + lexicon[:, 0]) / 2  # in (-1, 1)
        general_labels = np.column_stack(
            [np.maximum(-general, 0), 1 - np.abs(general), np.maximum(general, 0)]
        )  # LABELS order
        outside = np.clip((self.edge - (vectors @ self.centroids.T).max(axis=1)) / self.edge, 0, 1)[:, None]
        return (1 - outside) * learned + outside * general_labels


_models: dict[str, _Model] = {}  # by fingerprint: the worker rebuilds a classifier once per process, not per batch


def _model(weights: dict) -> _Model:
    model = _models.get(weights["fingerprint"])
    if model is None:
        model = _models[weights["fingerprint"]] = _Model.from_weights(weights)
    return model


@dataclass
class Prediction:
    label: str
    score: float  # P(positive) - P(negative)


def predict(
    weights: dict, vectors: np.ndarray, texts: Sequence[str], fallback: bool = True, negation: bool = False
) -> list[Prediction]:
    """Apply a saved classifier to vectors and their texts (`fallback=False`: the regression alone, for benchmarks).

    `negation=True` reads negation scopes in the word features: for review sentences, where one "not see through"
    is the whole text (judged sentences, tests/data/negation: accuracy 0.434 -> 0.480). Whole reviews keep the
    features the classifier was trained on (with scopes their 3-class macro-F1 fell 0.854 -> 0.831)."""
    if not len(texts):
        return []
    return _predictions(_model(weights).probabilities(vectors, texts, fallback, negation))


def _predictions(probabilities: np.ndarray) -> list[Prediction]:
    scores = probabilities[:, LABELS.index("positive")] - probabilities[:, LABELS.index("negative")]
    labels = probabilities.argmax(axis=1)
    return [Prediction(LABELS[int(i)], float(score)) for i, score in zip(labels, scores, strict=True)]


def _fit(vectors: np.ndarray, texts: Sequence[str], labels: np.ndarray, anchors: np.ndarray) -> dict:
    """Fit vocabulary, regression and fallback on these reviews; the weights are plain lists (JSON, the database)."""
    from sklearn.linear_model import LogisticRegression

    vectorizer, lexicon_weight = _new_vectorizer().fit(texts), float(setting("SENTIMENT_LEXICON_WEIGHT"))
    regression = LogisticRegression(C=setting("SENTIMENT_C"), class_weight="balanced", max_iter=3000)
    regression.fit(_features(vectorizer, lexicon_weight, vectors, texts, _lexicon(texts)), labels)
    weights = {
        "features": FEATURES,
        "labels": list(regression.classes_),
        "lexicon_weight": lexicon_weight,
        "vocabulary": sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get),
        "idf": vectorizer.idf_.round(5).tolist(),
        "coef": regression.coef_.round(5).tolist(),
        "intercept": regression.intercept_.tolist(),
        "general": _general_scale(vectors, anchors),
        "domain": _domain(vectors),
    }
    weights["fingerprint"] = hashlib.sha256(json.dumps(weights, sort_keys=True).encode()).hexdigest()[:16]
    return weights


def train(
    vectors: np.ndarray,
    texts: Sequence[str],
    labels: Sequence[str],
    anchors: np.ndarray,
    titles: Titles | None = None,
    folds: int = 5,
    seed: int = 0,
) -> tuple[dict, dict]:
    """Fit the classifier on reviews (and their titles as extra examples); `anchors` are `general_anchors(space)`.
    Returns (weights, cross-validated metrics). Refuses when a label has too few reviews.

    Each fold learns its own vocabulary from its own reviews and their titles, so the cross-validated figures (on whole
    reviews) never see a held-out review's words."""
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray(labels)
    counts = {label: int((labels == label).sum()) for label in LABELS}
    minimum = setting("SENTIMENT_MIN_EXAMPLES")
    short = {label: n for label, n in counts.items() if n < minimum}
    if short:
        raise SentimentError(
            f"Too few reviews to train: {', '.join(f'{n} {label}' for label, n in short.items())} (at least {minimum} "
            f"of each "
            f"label are needed; ratings 1-2 are negative, 3 neutral, 4-5 positive). "
            "Keep the shipped default classifier meanwhile."
        )
    vectors, texts = np.asarray(vectors, dtype=np.float32), list(texts)
    titles = titles or Titles(np.zeros(0, dtype=int), [], np.zeros((0, vectors.shape[1]), dtype=np.float32))

    def fit(rows: np.ndarray) -> dict:
        extra = np.flatnonzero(np.isin(titles.rows, rows))
        return _fit(
            np.vstack([vectors[rows], titles.vectors[extra]]),
            [texts[i] for i in rows] + [titles.texts[i] for i in extra],
            np.concatenate([labels[rows], labels[titles.rows[extra]]]),
            anchors,
        )

    probabilities = np.zeros((len(labels), len(LABELS)), dtype=np.float32)
    for train_rows, test_rows in StratifiedKFold(folds, shuffle=True, random_state=seed).split(vectors, labels):
        fold = _Model.from_weights(fit(train_rows))
        probabilities[test_rows] = fold.probabilities(vectors[test_rows], [texts[i] for i in test_rows])
    predictions = _predictions(probabilities)
    weights = fit(np.arange(len(labels)))
    return weights, {
        **metrics(labels, [p.label for p in predictions], [p.score for p in predictions]),
        "folds": folds,
        "examples": counts,
    }


def metrics(truth: Sequence[str], predicted: Sequence[str], scores: Sequence[float]) -> dict:
    """Balanced accuracy and accuracy on positive vs negative (neutral excluded; score > 0 means positive) and
    macro-F1 over the three labels where the truth has them."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    truth, predicted, scores = np.asarray(truth), np.asarray(predicted), np.asarray(scores)
    polar = truth != "neutral"
    is_positive = truth[polar] == "positive"
    said_positive = scores[polar] > 0
    result = {
        "balanced_accuracy": round(float(balanced_accuracy_score(is_positive, said_positive)), 4),
        "accuracy": round(float(accuracy_score(is_positive, said_positive)), 4),
        "n": int(polar.sum()),
    }
    if (truth == "neutral").any():
        result["macro_f1_3class"] = round(float(f1_score(truth, predicted, labels=list(LABELS), average="macro")), 4)
    return result


# --- classifiers in the database ------------------------------------------------------------------------------


def active_classifier(space: EmbeddingSpace) -> SentimentClassifier | None:
    """The space's classifier: its own active one, else the shipped default when it was made for this very space."""
    classifier = SentimentClassifier.objects.filter(space=space, is_active=True).first()
    if classifier is not None:
        return classifier
    shipped = _shipped_default()
    if not shipped or shipped["space"] != space_identity(space) or shipped["weights"].get("features") != FEATURES:
        return None
    return save_classifier(space, shipped["weights"], shipped["metrics"], shipped["trained_on"], apply=False)


@lru_cache(maxsize=1)
def _shipped_default() -> dict | None:
    """The classifier shipped with the plugin (read once per process: 1.7 MB of gzipped JSON took 0.2 s to read, and
    the worker asked for it on every review it indexed while the space had no classifier of its own)."""
    return json.loads(gzip.decompress(DEFAULT_CLASSIFIER.read_bytes())) if DEFAULT_CLASSIFIER.exists() else None


def write_default(classifier: SentimentClassifier, path: Path) -> None:
    """Write `classifier` as a gzipped JSON file in the form the shipped default (DEFAULT_CLASSIFIER) is read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "space": space_identity(classifier.space),
        "weights": classifier.weights,
        "metrics": classifier.metrics,
        "trained_on": classifier.trained_on,
    }
    path.write_bytes(gzip.compress(json.dumps(body).encode(), mtime=0))


def space_identity(space: EmbeddingSpace) -> dict:
    return {"model_identity": space.model_identity, "dimensions": space.dimensions, "recipe": space.recipe}


def save_classifier(
    space: EmbeddingSpace, weights: dict, metrics: dict, trained_on: str, apply: bool = True
) -> SentimentClassifier:
    """Store and activate a classifier for `space`; with `apply`, re-label every review vector of the space with it."""
    width = len(weights["coef"][0]) - len(weights.get("vocabulary", ())) - LEXICON_FEATURES
    if weights.get("features") != FEATURES or width != space.dimensions:
        raise SentimentError(
            f"This classifier was made for {width}-dimensional vectors and features {weights.get('features')!r}; "
            f"space #{space.pk} has {space.dimensions} dimensions and {FEATURES!r}. Train one in this space: manage.py "
            f"train_sentiment."
        )
    with transaction.atomic():
        SentimentClassifier.objects.filter(space=space, is_active=True).update(is_active=False)
        classifier = SentimentClassifier.objects.create(
            space=space,
            is_active=True,
            weights=weights,
            metrics=metrics,
            trained_on=trained_on,
            examples=metrics.get("examples", {}),
        )
    if apply:
        apply_classifier(classifier)
    return classifier


FIELDS = ["sentiment_label", "sentiment_score", "sentiment_classifier"]  # what annotate() sets on an Embedding


def annotate(space: EmbeddingSpace, embeddings: Sequence[Embedding], texts: Sequence[str]) -> None:
    """Set (not save) sentiment on review embeddings about to be written: the worker's embedding pass calls this, so
    sentiment costs no extra write."""
    classifier = active_classifier(space)
    if classifier is not None and embeddings:
        _set_labels(classifier, embeddings, texts)


def _set_labels(classifier: SentimentClassifier, embeddings: Sequence[Embedding], texts: Sequence[str]) -> None:
    vectors = np.asarray([np.asarray(e.vector, dtype=np.float32) for e in embeddings])
    for embedding, prediction in zip(embeddings, predict(classifier.weights, vectors, texts), strict=True):
        embedding.sentiment_label, embedding.sentiment_score, embedding.sentiment_classifier = (
            prediction.label,
            prediction.score,
            classifier,
        )


def apply_classifier(classifier: SentimentClassifier, batch_size: int = 2000) -> int:
    """Label every review vector of the classifier's space that another classifier (or none) labelled."""
    pending = Embedding.objects.filter(space=classifier.space, kind="review").exclude(sentiment_classifier=classifier)
    done = 0
    while batch := list(pending.select_related("document").order_by("pk")[:batch_size]):
        _set_labels(classifier, batch, [e.document.text for e in batch])
        Embedding.objects.bulk_update(batch, FIELDS)
        done += len(batch)
    return done


# --- data for training and evaluation -------------------------------------------------------------------------


def in_holdout(review_id: str, fraction: float) -> bool:
    """A fixed, reproducible share of reviews kept out of training (the same ids in train and evaluate commands)."""
    return int(hashlib.sha256(str(review_id).encode()).hexdigest()[:8], 16) % 10_000 < fraction * 10_000


@dataclass
class LabelledReviews:
    ids: list[str]
    texts: list[str]  # the embedded text: title and body (registry.review_text)
    labels: list[str]
    vectors: np.ndarray
    titles: list[str]  # each review's own title, "" when it has none


@dataclass
class Titles:
    """Review titles as extra, short training examples with their review's label: a title ("Runs small, returned
    it") reads like the one-sentence reviews of other shops, which whole reviews alone teach the classifier poorly."""

    rows: np.ndarray  # index of each title's review
    texts: list[str]
    vectors: np.ndarray


def title_examples(space: EmbeddingSpace, reviews: LabelledReviews) -> Titles:
    """The reviews' non-empty titles, embedded with the space's model (training only; the worker never needs them)."""
    rows = [i for i, title in enumerate(reviews.titles) if title.strip()]
    texts = [reviews.titles[i].strip() for i in rows]
    vectors = spaces.encode_texts(space, texts) if texts else np.zeros((0, space.dimensions), dtype=np.float32)
    return Titles(np.asarray(rows, dtype=int), texts, vectors)


def read_review_file(path: Path) -> list[dict]:
    """Rows of a reviews.jsonl (fields: id, text, optional title, and rating 1-5 or label pos/neg)."""
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SentimentError(f"{path.name} line {number}: not valid JSON ({exc.msg})") from None
            if not str(row.get("text", "")).strip():
                raise SentimentError(f"{path.name} line {number}: 'text' is missing or empty")
            if row.get("rating") not in (1, 2, 3, 4, 5) and row.get("label") not in ("pos", "neg"):
                raise SentimentError(f"{path.name} line {number}: needs 'rating' (1-5) or 'label' (pos/neg)")
            rows.append({**row, "id": str(row.get("id", number))})
    return rows


def file_reviews(space: EmbeddingSpace, path: Path, keep=lambda review_id: True) -> LabelledReviews:
    """Reviews of a file, embedded with the space's model through the same recipe as the shop's reviews."""
    rows = [row for row in read_review_file(path) if keep(row["id"])]
    texts = [
        registry.review_text(registry.ReviewDocument(product_id=None, text=row["text"], title=row.get("title") or ""))
        for row in rows
    ]
    labels = [
        label_for_rating(row["rating"]) if row.get("rating") else ("positive" if row["label"] == "pos" else "negative")
        for row in rows
    ]
    titles = [str(row.get("title") or "") for row in rows]
    return LabelledReviews([row["id"] for row in rows], texts, labels, spaces.encode_texts(space, texts), titles)


def shop_reviews(space: EmbeddingSpace, keep=lambda review_id: True) -> LabelledReviews:
    """The shop's rated reviews with their stored vectors in `space` (nothing is re-embedded)."""
    rows = (
        Embedding.objects.filter(space=space, kind="review", document__collection="", document__rating__isnull=False)
        .order_by("pk")
        .values_list("document__object_id", "document__text", "document__rating", "vector", "document__title")
    )
    kept = [row for row in rows if keep(row[0])]
    vectors = np.asarray([np.asarray(row[3], dtype=np.float32) for row in kept]).reshape(len(kept), space.dimensions)
    return LabelledReviews(
        [r[0] for r in kept],
        [r[1] for r in kept],
        [label_for_rating(r[2]) for r in kept],
        vectors,
        [r[4] for r in kept],
    )


def train_classifier(
    space: EmbeddingSpace, path: Path | None = None, holdout: float = 0.0
) -> tuple[SentimentClassifier, dict]:
    """Train, store and apply the review classifier of `space` from star ratings: the shop's own rated reviews (their
    stored vectors), or a review file's. `holdout` keeps a fixed share of reviews out and scores them after training.
    Returns the classifier and {"cross_validated": …, "reviews": trained on, "holdout": … (with `holdout`)}.
    SentimentError when there is too little to learn."""
    keep = lambda review_id: not in_holdout(review_id, holdout)  # noqa: E731
    source = file_reviews(space, path, keep) if path else shop_reviews(space, keep)
    weights, cross_validated = train(
        source.vectors, source.texts, source.labels, general_anchors(space), title_examples(space, source)
    )
    result = {"cross_validated": cross_validated, "reviews": len(source.labels)}
    if holdout:
        held = file_reviews(space, path, lambda i: not keep(i)) if path else shop_reviews(space, lambda i: not keep(i))
        predictions = predict(weights, held.vectors, held.texts)
        result["holdout"] = metrics(held.labels, [p.label for p in predictions], [p.score for p in predictions])
    trained_on = f"{path.name if path else 'shop reviews'}, {len(source.labels)} reviews" + (
        f", {holdout:.0%} held out" if holdout else ""
    )
    return save_classifier(space, weights, cross_validated, trained_on), result


def status(space: EmbeddingSpace) -> str:
    """ "ready" when the space has a classifier, else "pending": a space just switched to (a new model) has none until
    the periodic reconcile (or `manage.py train_sentiment`) trains one from the shop's ratings. An existence test
    first: loading the classifier's weights (a megabyte of JSON) to say "ready" took 0.6 s of a cold product page."""
    if SentimentClassifier.objects.filter(space=space, is_active=True).exists():
        return "ready"
    return "ready" if active_classifier(space) is not None else "pending"
