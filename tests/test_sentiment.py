"""Review sentiment: training from star ratings, the worker's labelling pass, the product summary and the
train/evaluate commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from catalog.models import Review
from shopsearch import exceptions, indexing, sentiment, spaces
from shopsearch.models import Embedding, EmbeddingSpace, SentimentClassifier

from .conftest import demo_rows, load_products

pytestmark = pytest.mark.django_db


def balanced_reviews(per_label: int) -> list[dict]:
    """Real clothing reviews, `per_label` each of negative (1-2 stars), neutral (3) and positive (4-5)."""
    picked = {label: [] for label in sentiment.LABELS}
    for row in demo_rows("demo_reviews.jsonl.gz"):
        bucket = picked[sentiment.label_for_rating(row["rating"])]
        if len(bucket) < per_label:
            bucket.append(row)
        if all(len(b) >= per_label for b in picked.values()):
            break
    return [row for rows in picked.values() for row in rows]


@pytest.fixture
def shop_with_reviews(run_on_commit):
    """Two real products; the reviews are attached to the first one."""

    def build(rows: list[dict]):  # the reviews as a bulk import, then reindex (one batch encode, not a task per review)
        products = run_on_commit(load_products, demo_rows("demo_products.jsonl.gz", limit=2))
        Review.objects.bulk_create(
            [
                Review(
                    external_id=r["id"],
                    product=products[0],
                    title=r.get("title", ""),
                    text=r["text"],
                    rating=r["rating"],
                    helpful_votes=r.get("helpful_votes", 0),
                )
                for r in rows
            ]
        )
        indexing.reindex(spaces.ensure_active_space(), kinds=("review",))
        return products

    return build


def test_training_refuses_too_few_examples_per_label(fake_model):
    vectors = fake_model.encode(["great", "awful", "fine"] * 5)
    with pytest.raises(exceptions.SentimentError, match="Too few reviews to train: 5 negative, 5 neutral, 5 positive"):
        sentiment.train(vectors, ["great", "awful", "fine"] * 5, ["positive", "negative", "neutral"] * 5, vectors[:2])


def test_a_classifier_never_serves_another_space(fake_model, shop_with_reviews):
    shop_with_reviews(balanced_reviews(25))
    space = spaces.active_space()
    source = sentiment.shop_reviews(space)
    weights, _ = sentiment.train(source.vectors, source.texts, source.labels, sentiment.general_anchors(space))
    other = EmbeddingSpace.objects.create(model_name="x", model_identity="other", dimensions=32, recipe=space.recipe)
    with pytest.raises(exceptions.SentimentError, match="made for 64-dimensional vectors"):
        sentiment.save_classifier(other, weights, {}, "test")
    classifier = sentiment.save_classifier(space, weights, {}, "test")
    assert sentiment.active_classifier(other) is None  # the shipped default is for the bundled model's space only
    assert sentiment.active_classifier(space) == classifier


def test_text_unlike_the_training_reviews_is_judged_by_the_general_signal(fake_model, shop_with_reviews):
    shop_with_reviews(balanced_reviews(25))
    space = spaces.active_space()
    source = sentiment.shop_reviews(space)
    weights, _ = sentiment.train(source.vectors, source.texts, source.labels, sentiment.general_anchors(space))
    centroids = np.asarray(weights["domain"]["centroids"], dtype=np.float32)
    inside = centroids[:1]  # as close to the training reviews as a text gets: the regression alone decides
    outside = np.linalg.svd(centroids)[2][-1:]  # orthogonal to every centroid: the general signal alone decides
    flipped = {
        **weights,
        "coef": (-np.asarray(weights["coef"])).tolist(),
        "intercept": (-np.asarray(weights["intercept"])).tolist(),
        "fingerprint": weights["fingerprint"] + "-flipped",
    }
    text = ["I love it, wonderful quality."]
    assert sentiment.predict(weights, inside, text) == sentiment.predict(weights, inside, text, fallback=False)
    assert sentiment.predict(flipped, inside, text) != sentiment.predict(weights, inside, text)
    assert sentiment.predict(flipped, outside, text) == sentiment.predict(
        weights, outside, text
    )  # the regression has no say
    assert sentiment.predict(weights, outside, text) != sentiment.predict(weights, outside, text, fallback=False)


def test_worker_pass_labels_reviews_and_the_product_summary_counts_them(fake_model, shop_with_reviews, run_on_commit):
    products = shop_with_reviews(balanced_reviews(25))
    space = spaces.active_space()
    assert not Embedding.objects.filter(kind="review", sentiment_label__isnull=False).exists()  # no classifier yet
    call_command("train_sentiment", "--no-color")
    assert (
        Embedding.objects.filter(space=space, kind="review", sentiment_label__isnull=True).count() == 0
    )  # applied at once
    # a new review is labelled in the same pass that embeds it
    review = run_on_commit(
        Review.objects.create,
        external_id="new-1",
        product=products[0],
        text="Love it, perfect fit and soft fabric",
        rating=5,
    )
    embedding = Embedding.objects.get(space=space, kind="review", document__object_id=str(review.pk))
    assert embedding.sentiment_label in sentiment.LABELS and -1 <= embedding.sentiment_score <= 1
    assert embedding.sentiment_classifier == SentimentClassifier.objects.get(space=space, is_active=True)

    api = APIClient()
    body = api.get(f"/api/products/{products[0].pk}/sentiment/").json()
    assert body["reviews"] == body["labelled"] == 76 and sum(body["counts"].values()) == 76
    assert body["trend"] and body["trend"][0]["reviews"] == 76
    assert body["most_helpful_positive"]["snippet"] and body["most_helpful_negative"]["snippet"]
    empty = api.get(f"/api/products/{products[1].pk}/sentiment/").json()
    assert empty["reviews"] == 0 and empty["counts"] == {"negative": 0, "neutral": 0, "positive": 0}
    assert empty["share_positive"] == 0 and empty["mean_score"] == 0 and empty["most_helpful_positive"] is None
    assert api.get("/api/products/999999/sentiment/").status_code == 404


def test_train_command_explains_too_few_reviews(fake_model, shop_with_reviews):
    shop_with_reviews(balanced_reviews(3))
    with pytest.raises(CommandError, match="at least 20 of each label"):
        call_command("train_sentiment")


@pytest.mark.model
def test_real_model_classifier_gets_the_obvious_ones_right(real_model, shop_with_reviews, tmp_path, capsys):
    shop_with_reviews(balanced_reviews(60))
    call_command("train_sentiment", "--json")
    trained = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert trained["cross_validated"]["examples"] == {"negative": 60, "neutral": 60, "positive": 60}
    obvious = tmp_path / "obvious.jsonl"
    obvious.write_text(
        "".join(
            json.dumps(r) + "\n"
            for r in [
                {"id": "o1", "text": "I love this dress, it fits perfectly and the fabric is beautiful.", "rating": 5},
                {"id": "o2", "text": "Absolutely gorgeous, I get compliments every time I wear it.", "label": "pos"},
                {
                    "id": "o3",
                    "text": "Terrible quality, the seams came apart after one wash. Returned it.",
                    "rating": 1,
                },
                {
                    "id": "o4",
                    "text": "Very disappointed, it looked cheap and nothing like the picture.",
                    "label": "neg",
                },
            ]
        )
    )
    call_command("evaluate_sentiment", str(obvious), "--json")
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result == {"balanced_accuracy": 1.0, "accuracy": 1.0, "n": 4, "macro_f1_3class": None}


@pytest.mark.model
def test_shipped_default_reads_reviews_of_other_shops(real_model):
    """The default classifier learned from clothing reviews; on other shops' sentences its general fallback speaks."""
    space = spaces.ensure_active_space()
    classifier = sentiment.active_classifier(space)
    assert classifier is not None and classifier.trained_on.startswith("reviews.jsonl")
    written = {  # for this test, about no shop in the training data
        "The staff were friendly and our table was ready right away.": "positive",
        "Battery life is excellent and the setup took two minutes.": "positive",
        "We waited an hour and the soup arrived cold.": "negative",
        "The charger stopped working after a week.": "negative",
    }
    vectors, texts, truth = (
        real_model.encode(list(written)),
        list(written),
        np.asarray(list(written.values())) == "positive",
    )
    right = {
        fallback: int(
            (
                (np.asarray([p.score for p in sentiment.predict(classifier.weights, vectors, texts, fallback)]) > 0)
                == truth
            ).sum()
        )
        for fallback in (True, False)
    }
    assert (
        right[True] > right[False]
    )  # measured when written: 3 of 4 right by the score's sign with the fallback, 1 without


def test_evaluate_sentiment_rejects_a_bad_file(fake_model, shop_with_reviews, tmp_path):
    shop_with_reviews(balanced_reviews(25))
    call_command("train_sentiment")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "text": "fine"}\n')
    with pytest.raises(CommandError, match="line 1: needs 'rating'"):
        call_command("evaluate_sentiment", str(bad))


def test_holdout_is_a_fixed_share_by_id():
    ids = [f"wc{n:05d}" for n in range(5000)]
    held = [i for i in ids if sentiment.in_holdout(i, 0.2)]
    assert 0.18 < len(held) / len(ids) < 0.22 and held == [i for i in ids if sentiment.in_holdout(i, 0.2)]
    assert np.isclose(sum(sentiment.in_holdout(i, 0.0) for i in ids), 0)


def test_titles_become_extra_examples_of_their_own_reviews(fake_model, shop_with_reviews):
    shop_with_reviews(balanced_reviews(25))
    space = spaces.active_space()
    reviews = sentiment.shop_reviews(space)
    titles = sentiment.title_examples(space, reviews)
    assert 0 < len(titles.texts) <= len(reviews.texts) and titles.vectors.shape == (len(titles.texts), space.dimensions)
    for row, title in zip(titles.rows, titles.texts, strict=True):
        assert title == reviews.titles[row].strip() and reviews.texts[row].startswith(title)
    weights, metrics = sentiment.train(
        reviews.vectors, reviews.texts, reviews.labels, sentiment.general_anchors(space), titles
    )
    assert metrics["examples"] == {
        "negative": 25,
        "neutral": 25,
        "positive": 25,
    }  # counted in reviews, titles are extra
    assert sentiment.predict(weights, titles.vectors[:3], titles.texts[:3])


def test_a_switch_to_a_new_model_says_sentiment_is_pending_and_reconcile_trains_it(
    fake_model, shop_with_reviews, monkeypatch
):
    products = shop_with_reviews(balanced_reviews(25))
    other = type(fake_model)()
    other.name = "other-fake-model"
    original = other.encode
    other.encode = lambda texts: original([t[::-1] for t in texts])  # another vector space
    patched = indexing.encoders.get_encoder
    monkeypatch.setattr(
        indexing.encoders, "get_encoder", lambda name: other if name == "other-fake-model" else patched(name)
    )
    new = spaces.get_or_create_space("other-fake-model")
    indexing.reindex(new)
    spaces.activate(new)

    client = APIClient()
    body = client.get(f"/api/products/{products[0].pk}/sentiment/").json()
    assert body["classifier"] == "pending" and body["labelled"] == 0 and body["reviews"] == 75
    assert indexing.reconcile()["sentiment_classifier"] == 1
    body = client.get(f"/api/products/{products[0].pk}/sentiment/").json()
    assert body["classifier"] == "ready" and body["labelled"] == 75
    assert SentimentClassifier.objects.get(space=new, is_active=True).trained_on == "shop reviews, 75 reviews"
