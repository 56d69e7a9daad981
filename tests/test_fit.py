"""Which way a product's size errs: the cue reader on hand-computed cases, the review and product verdicts, and the
judged size/fit sentences of the demo reviews (tests/data/fit, labelled by hand)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from shopsearch import fit

SENTENCES = Path(__file__).resolve().parent / "data" / "fit" / "sentences.jsonl"


@pytest.mark.parametrize(
    "text, direction",
    [
        ("it runs a full size small", "small"),
        ("I had to size up", "small"),
        ("way too tight in the hips", "small"),
        ("order a size or two down", "large"),
        ("it ran big on me", "large"),
        ("fits true to size", "true_to_size"),
        ("not too tight, not too loose", "true_to_size"),  # denied errors: the size is right
        ("I was afraid it would run small, but it is true to size", "true_to_size"),  # the clause after "but" decides
        ("too tight in the chest and too big in the waist", None),  # both ways: nothing about the size as a whole
        ("the fit is flattering", None),
    ],
)
def test_a_sentence_says_which_way_the_size_errs(text, direction):
    assert fit.sentence_direction(text) == direction


def test_reviews_count_once_and_the_verdict_needs_enough_of_them(settings):
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "FIT_MIN_REVIEWS": 3}
    assert fit.review_direction(["it runs small", "I sized up", "fits perfectly now"]) == "small"  # two of three
    assert fit.review_direction(["it runs small", "true to size otherwise"]) == "small"  # an error beats true on a tie
    assert fit.review_direction(["it runs small", "it runs large"]) is None
    reviews = {1: ["runs small"], 2: ["too tight"], 3: ["true to size"], 4: ["the colour is lovely"]}
    result = fit.product_fit(reviews)
    assert result["reviews"] == {"small": 2, "true_to_size": 1, "large": 0} and result["reviews_saying"] == 3
    assert (result["verdict"], result["label"]) == ("small", "runs small")
    assert result["examples"] == {"small": "runs small", "true_to_size": "true to size"}
    assert (
        fit.product_fit({1: ["runs small"], 2: ["runs large"], 3: ["true to size"]})["verdict"] == "true_to_size"
    )  # a tie
    assert fit.product_fit({1: ["runs small"], 2: ["too tight"]})["verdict"] is None  # two reviews are too few


def test_judged_demo_sentences_are_read_right():
    rows = [json.loads(line) for line in SENTENCES.read_text().splitlines()]
    held_out = [row for row in rows if row["split"] == "test"]  # never looked at while writing the cues
    predicted = [fit.sentence_direction(row["sentence"]) or "none" for row in held_out]
    accuracy = sum(p == row["label"] for p, row in zip(predicted, held_out, strict=True)) / len(held_out)
    majority = Counter(row["label"] for row in held_out).most_common(1)[0][1] / len(held_out)
    assert accuracy > majority + 0.3
    for direction in fit.DIRECTIONS:  # each way is found, and mostly where it is said
        said = [p for p, row in zip(predicted, held_out, strict=True) if row["label"] == direction]
        claimed = [row["label"] for p, row in zip(predicted, held_out, strict=True) if p == direction]
        assert sum(p == direction for p in said) / len(said) > 0.6
        assert claimed.count(direction) / len(claimed) > 0.7
