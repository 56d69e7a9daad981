"""Review sentences, aspects (configured and discovered) and search inside a product's reviews, on real demo reviews."""

from __future__ import annotations

import html
import io
import json

import pytest
from django.core.management import call_command
from django.db import transaction
from rest_framework.test import APIClient

from catalog.models import Review
from shopsearch import review_insights, spaces, tasks
from shopsearch.models import DiscoveredAspect, Document, ReviewSentence, SentimentClassifier

from .conftest import demo_rows, load_products, wait_for

RUNS_SMALL = lambda row: "runs small" in row["text"].lower()  # noqa: E731


def attach(product, rows: list[dict]) -> list[Review]:
    return [
        Review.objects.create(
            external_id=r["id"],
            product=product,
            title=r.get("title", ""),
            text=r["text"],
            rating=r["rating"],
            helpful_votes=r.get("helpful_votes", 0),
        )
        for r in rows
    ]


@pytest.fixture
def classifier(real_model, tmp_path):
    """A sentiment classifier for the bundled model's space, trained on 20 real reviews per label (the minimum)."""
    spaces.ensure_active_space()
    picked = {label: [] for label in ("negative", "neutral", "positive")}
    for row in demo_rows("demo_reviews.jsonl.gz", limit=2000):
        label = "negative" if row["rating"] <= 2 else "neutral" if row["rating"] == 3 else "positive"
        if len(picked[label]) < 20:
            picked[label].append(row)
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for rows in picked.values() for row in rows))
    call_command("train_sentiment", "--file", str(path), stdout=io.StringIO())
    return path


@pytest.fixture
def shop(run_on_commit):
    """Two real products: the first with real reviews (three that say "runs small", twelve others), the second none."""
    products = run_on_commit(load_products, demo_rows("demo_products.jsonl.gz", limit=2))
    rows = demo_rows("demo_reviews.jsonl.gz", limit=3, where=RUNS_SMALL) + demo_rows(
        "demo_reviews.jsonl.gz", limit=12, where=lambda r: not RUNS_SMALL(r)
    )
    run_on_commit(attach, products[0], rows)
    return products


def test_sentences_split_on_stops_and_line_breaks_but_not_abbreviations():
    text = "Runs small\nI love it!! the fabric, e.g. the lining, is soft. Size up (I'm 5'4\").  Great"
    assert [text[a:b] for a, b in review_insights.split_sentences(text)] == [
        "Runs small",
        "I love it!!",
        "the fabric, e.g. the lining, is soft.",
        "Size up (I'm 5'4\").",
        "Great",
    ]
    assert review_insights.split_sentences(" ... \n") == []


@pytest.mark.django_db
def test_product_without_reviews_gets_zeros_for_every_aspect(fake_model, shop):
    body = APIClient().get(f"/api/products/{shop[1].pk}/sentiment/").json()
    assert body["reviews"] == 0 and body["counts"] == {"negative": 0, "neutral": 0, "positive": 0}
    assert [a["name"] for a in body["aspects"]] == [a.name for a in review_insights.configured_aspects()]
    assert all(
        a["mentions"] == a["reviews"] == 0 and a["share_negative"] == 0 and a["examples"] == [] for a in body["aspects"]
    )


@pytest.mark.django_db
def test_bad_input_is_a_4xx_that_says_what_was_wrong(fake_model, shop, settings):
    api = APIClient()
    unknown = api.get("/api/products/999999/sentiment/", {"aspect": "size/fit"})
    assert unknown.status_code == 404 and "999999" in unknown.json()["detail"]
    assert api.get("/api/products/999999/reviews/", {"q": "runs small"}).status_code == 404
    aspect = api.get(f"/api/products/{shop[0].pk}/sentiment/", {"aspect": "smell"})
    assert aspect.status_code == 400 and aspect.json()["detail"].startswith(
        "aspect: Unknown aspect 'smell'. Known aspects: quality, price/value, size/fit"
    )
    for q in ("", "   ", "?!", "x" * (settings.SHOPSEARCH.get("MAX_QUERY_LENGTH", 500) + 1)):
        response = api.get(f"/api/products/{shop[0].pk}/reviews/", {"q": q})
        assert response.status_code == 400 and response.json()["detail"].startswith("q: "), q
    assert api.get(f"/api/products/{shop[0].pk}/reviews/").json()["detail"].startswith("q: ")
    assert (
        api.get(f"/api/products/{shop[0].pk}/reviews/", {"q": "fit", "rating": 6})
        .json()["detail"]
        .startswith("rating: ")
    )
    assert (
        api.get(f"/api/products/{shop[0].pk}/reviews/", {"q": "fit", "page_size": 1000})
        .json()["detail"]
        .startswith("page_size: ")
    )


@pytest.mark.model
@pytest.mark.django_db
def test_aspects_find_runs_small_under_size_fit(classifier, shop, settings):
    api = APIClient()
    [top] = api.get(f"/api/products/{shop[0].pk}/sentiment/", {"aspect": "size/fit"}).json()["aspects"]
    assert any("runs small" in e["sentence"].lower() for e in top["examples"]), top  # among the 3 shown
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "ASPECT_EXAMPLES": 100}
    body = api.get(f"/api/products/{shop[0].pk}/sentiment/", {"aspect": "size/fit"}).json()
    [fit] = body["aspects"]
    said = [e["sentence"].lower() for e in fit["examples"]]
    assert sum("runs small" in s for s in said) >= 2, said
    assert len(set(said)) == len(said)  # each example once
    assert fit["mentions"] == len(said) and 0 < fit["reviews"] <= 15
    assert 0 < fit["share_negative"] + fit["share_positive"] <= 1 and all(
        e["sentiment"] in ("negative", "neutral", "positive") for e in fit["examples"]
    )
    assert all(
        e["similarity"] >= next(a.threshold for a in review_insights.configured_aspects() if a.name == "size/fit")
        for e in fit["examples"]
    )
    # the worker's pass after indexing wrote every review's sentences; requests only read them, and catching up
    # writes nothing
    space = spaces.active_space()
    documents = Document.objects.filter(kind="review", product_id=str(shop[0].pk))
    assert set(
        ReviewSentence.objects.filter(space=space, product_id=str(shop[0].pk)).values_list("document_id", flat=True)
    ) == set(documents.values_list("pk", flat=True))
    assert body["analysed"] == body["reviews"] == 15
    assert review_insights.refresh_all(space) == 0
    assert len(api.get(f"/api/products/{shop[0].pk}/sentiment/").json()["aspects"]) == len(
        review_insights.configured_aspects()
    )
    # a newly trained classifier relabels the sentences, without re-splitting them
    ids = set(ReviewSentence.objects.filter(space=space).values_list("pk", flat=True))
    call_command("train_sentiment", "--file", str(classifier), stdout=io.StringIO())
    active = SentimentClassifier.objects.get(space=space, is_active=True)
    assert (
        set(ReviewSentence.objects.filter(space=space, sentiment_classifier=active).values_list("pk", flat=True)) == ids
    )
    # configured aspects with other phrases: the stored similarities are recomputed from the vectors, not re-embedded
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "SENTIMENT_ASPECTS": [{"name": "fit", "phrases": ["runs small"]}]}
    assert review_insights.refresh_all(space) == len(ids)
    [fit] = api.get(f"/api/products/{shop[0].pk}/sentiment/").json()["aspects"][:1]
    assert fit["name"] == "fit" and any("runs small" in e["sentence"].lower() for e in fit["examples"])
    assert set(ReviewSentence.objects.filter(space=space).values_list("pk", flat=True)) == ids


@pytest.mark.model
@pytest.mark.django_db
def test_review_search_finds_the_sentence_that_answers(classifier, shop):
    api = APIClient()
    body = api.get(
        f"/api/products/{shop[0].pk}/reviews/",
        {"q": "is this too small, should I order a bigger size?", "page_size": 3},
    ).json()
    top = body["results"][0]
    assert "small" in top["sentence"].lower(), (
        body
    )  # the answer, whatever its words: "runs small", "outrageously small"
    assert any("runs small" in hit["sentence"].lower() for hit in body["results"]), body
    assert f"<mark>{html.escape(top['sentence'])}</mark>" in top["highlight"]
    assert body["has_next"] and len(body["results"]) == 3 and len({hit["review"] for hit in body["results"]}) == 3
    assert top["sentiment"] in ("negative", "neutral", "positive") and top["rating"] in range(1, 6)
    page2 = api.get(
        f"/api/products/{shop[0].pk}/reviews/",
        {"q": "is this too small, should I order a bigger size?", "page_size": 3, "page": 2},
    ).json()
    assert not {hit["review"] for hit in page2["results"]} & {hit["review"] for hit in body["results"]}
    five = api.get(f"/api/products/{shop[0].pk}/reviews/", {"q": "love it", "rating": 5}).json()["results"]
    assert five and all(hit["rating"] == 5 for hit in five)


@pytest.mark.django_db
def test_discovered_aspects_are_named_things_no_configured_aspect_covers(fake_model, run_on_commit, settings):
    settings.SHOPSEARCH = {
        **settings.SHOPSEARCH,
        "ASPECT_DISCOVERY_MIN_SENTENCES": 8,
        "ASPECT_DISCOVERY_MIN_PRODUCTS": 3,
    }
    rows = demo_rows("demo_reviews.jsonl.gz", limit=300)
    wanted = {row["product_id"] for row in rows}
    products = {
        p.external_id: p
        for p in run_on_commit(load_products, demo_rows("demo_products.jsonl.gz", where=lambda r: r["id"] in wanted))
    }
    run_on_commit(lambda: [attach(products[row["product_id"]], [row]) for row in rows])
    call_command("discover_aspects", "--no-color")
    found = {a.name: a for a in DiscoveredAspect.objects.all()}
    assert tasks.discover_aspects.apply().get() == {
        "aspects": [a.name for a in DiscoveredAspect.objects.order_by("-sentences", "name")]
    }
    assert "waist" in found and found["waist"].sentences >= 8
    assert not {"fabric", "material", "dress", "usual", "the", "perfect"} & set(
        found
    )  # covered, catalogue, adjective, stop / sentiment words
    product = products[next(row["product_id"] for row in rows if " the waist" in row["text"].lower())]
    body = APIClient().get(f"/api/products/{product.pk}/sentiment/", {"aspect": "waist"}).json()
    [waist] = body["aspects"]
    assert (
        waist["source"] == "discovered"
        and waist["mentions"] >= 1
        and all("waist" in e["sentence"].lower() for e in waist["examples"])
    )


@pytest.mark.worker
@pytest.mark.model
@pytest.mark.django_db(transaction=True)
def test_editing_a_review_refreshes_its_cached_sentences_through_the_worker(classifier, celery_worker_process):
    with transaction.atomic():
        [product] = load_products(demo_rows("demo_products.jsonl.gz", limit=1))
        first, second = attach(product, demo_rows("demo_reviews.jsonl.gz", limit=2, where=lambda r: r["rating"] >= 4))
    space = spaces.active_space()

    wait_for(
        lambda: Document.objects.filter(kind="review", product_id=str(product.pk)).count() == 2,
        "index the reviews",
        timeout=120,
    )
    wait_for(
        lambda: APIClient().get(f"/api/products/{product.pk}/sentiment/").json()["analysed"] == 2,
        "analyse the reviews",
        timeout=120,
    )

    def texts(review):
        return list(
            ReviewSentence.objects.filter(space=space, document__object_id=str(review.pk))
            .order_by("position")
            .values_list("text", flat=True)
        )

    assert texts(first)
    edited = demo_rows("demo_reviews.jsonl.gz", limit=1, where=lambda r: RUNS_SMALL(r) and r["rating"] <= 2)[0]
    with transaction.atomic():
        first.title, first.text = "", edited["text"]
        first.save()
    expected = [edited["text"][a:b] for a, b in review_insights.split_sentences(edited["text"])]
    wait_for(lambda: texts(first) == expected, "re-split the edited review", timeout=120)
    labels = ReviewSentence.objects.filter(space=space, document__object_id=str(first.pk)).values_list(
        "sentiment_label", flat=True
    )
    assert all(label in ("negative", "neutral", "positive") for label in labels)
    with transaction.atomic():
        second.delete()
    wait_for(lambda: not texts(second), "drop the deleted review's sentences", timeout=120)


@pytest.mark.django_db
def test_a_review_moved_to_another_product_leaves_the_old_products_sentences(fake_model, shop, run_on_commit):
    space = spaces.active_space()
    moved = Review.objects.filter(product=shop[0]).first()
    before = ReviewSentence.objects.filter(space=space, product_id=str(shop[0].pk)).count()
    moved.product = shop[1]
    run_on_commit(moved.save)
    assert not ReviewSentence.objects.filter(
        space=space, product_id=str(shop[0].pk), document__object_id=str(moved.pk)
    ).exists()
    assert 0 < ReviewSentence.objects.filter(space=space, product_id=str(shop[0].pk)).count() < before
    body = APIClient().get(f"/api/products/{shop[1].pk}/reviews/", {"q": moved.text[:40]}).json()
    assert [hit["review"] for hit in body["results"]] == [
        str(moved.pk)
    ]  # re-split for the new product by the worker's pass
