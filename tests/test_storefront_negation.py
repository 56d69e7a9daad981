"""Sentence sentiment and negation: the scope rule on hand-computed cases, and the judged sentence set
(tests/data/negation, labelled by hand from demo reviews) with the real model and the shipped classifier."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from shopsearch import sentiment

SENTENCES = Path(__file__).resolve().parent / "data" / "negation" / "sentences.jsonl"


def flipped(text: str, vocabulary: list[str]) -> set[str]:
    vectorizer = sentiment._new_vectorizer(vocabulary={term: n for n, term in enumerate(vocabulary)})
    vectorizer.idf_ = np.ones(len(vocabulary), dtype=np.float32)
    words = vectorizer.transform([text])
    signs = sentiment._negated(vectorizer, [text], words).toarray()[0] * words.toarray()[0]
    return {term for term, sign in zip(vocabulary, signs, strict=True) if sign < 0}


def test_words_inside_a_negation_scope_count_the_other_way():
    vocabulary = ["not", "see", "through", "see through", "not see", "wrinkle", "love", "complaints", "doesn"]
    assert flipped("it is not see through", vocabulary) == {
        "see",
        "through",
        "see through",
    }  # "not see" keeps its weight
    assert flipped("doesn't wrinkle at all", vocabulary) == {"wrinkle"}
    assert flipped("no complaints, love it", vocabulary) == {"complaints"}  # the comma ends the scope
    assert flipped("not see through but I love it", vocabulary) == {"see", "through", "see through"}
    assert flipped("see through, not great", vocabulary) == set()  # said outside a scope too: unchanged


@pytest.mark.model
def test_negation_scopes_label_more_judged_sentences_right(real_model):
    rows = [json.loads(line) for line in SENTENCES.read_text().splitlines()]
    shipped = json.loads(gzip.decompress(sentiment.DEFAULT_CLASSIFIER.read_bytes()))["weights"]
    texts = [row["sentence"] for row in rows]
    vectors = np.asarray(real_model.encode(texts), dtype=np.float32)

    def accuracy(negation: bool, subset: str | None = None) -> float:
        predictions = sentiment.predict(shipped, vectors, texts, negation=negation)
        kept = [(p, r) for p, r in zip(predictions, rows, strict=True) if subset in (None, r["subset"])]
        return sum(p.label == r["label"] for p, r in kept) / len(kept)

    assert accuracy(True) > accuracy(False)
    assert accuracy(True, "negated_complaint") > accuracy(False, "negated_complaint")
