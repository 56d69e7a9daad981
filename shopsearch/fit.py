"""Which way a product's size errs (runs small, true to size, runs large), read from its reviews' size/fit sentences.

Shoppers of clothing ask one question of the size/fit aspect that its share positive does not answer: should I order
my usual size? Reviewers answer it in a small set of phrasings ("runs small", "too tight", "I sized up", "true to
size", "fits perfectly", "order a size down"), so a sentence's direction is read from those cues rather than from
its vector, where "runs small" and "runs large" lie close together (one phrase apart, same topic). Cues inside a
negation ("not too tight", "didn't run small") deny the error; after a contrast word ("but", "however") the clause
that follows decides, as in "I was afraid it would run small, but it is true to size". A sentence with cues both
ways ("tight on top, large on the bottom") says nothing about the size as a whole.

Each review counts once, with the direction most of its size/fit sentences take; the product's verdict is the
direction most of those reviews take, true to size on a tie (errors that cancel out), and none until
FIT_MIN_REVIEWS reviews say anything. Measured on judged demo sentences: tests/data/fit (README there).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from .conf import setting

DIRECTIONS = ("small", "true_to_size", "large")
VERDICTS = {"small": "runs small", "true_to_size": "true to size", "large": "runs large"}

_AMOUNT = (
    r"(?:(?:a|an|very|really|super|pretty|quite|slightly|little|bit|tad|way|full|half|at|least|one|two|1|2|size|sizes|too|so|"
    r"extremely|incredibly|definitely|kind|of|somewhat|more|on|the|side|just|much)\s+)*"
)
_RUN = r"\b(?:run|runs|running|ran|fits?|fitting|fitted|is|was|are|were|seems?|felt|feels?|cut)\s+"
_UP = (
    r"\b(?:size[ds]?|sizing|go|goes|going|gone|went|order|ordered|ordering|get|got|buy|bought|need|needed|exchange[ds]?|exchanging)\s+"
    r"(?:(?:a|one|two|1|2|whole|full|half|way|all\s+the\s+way)\s+)?(?:sizes?\s+)?(?:or\s+two\s+)?"
)
_CUES = {
    "small": [
        _RUN + _AMOUNT + r"(?:small|smaller|tight|snug|tiny)\b",
        r"\btoo\s+(?:small|tight|snug|tiny)\b",
        _UP + r"up\b",
        r"\bsizes?\s+(?:larger|bigger)\b|\b(?:larger|bigger)\s+sizes?\b|\bnext\s+size\s+up\b",
        r"\bsmaller\s+than\s+(?:expected|usual|normal|standard|my|other|most)\b",
    ],
    "large": [
        _RUN + _AMOUNT + r"(?:large|larger|big|bigger|huge|roomy|generous|generously|loose|baggy)\b",
        r"\btoo\s+(?:big|large|loose|roomy|baggy)\b",
        _UP + r"down\b",
        r"\bsizes?\s+smaller\b|\bsmaller\s+sizes?\b|\bnext\s+size\s+down\b",
        r"\b(?:bigger|larger)\s+than\s+(?:expected|usual|normal|standard|my|other|most)\b",
        r"\bswimming\s+in\b|\b(?:is|was|runs?|ran)\s+huge\b",
    ],
    "true_to_size": [
        r"\btrue\s+to\s+size\b|\btts\b|\bran\s+true\b|\bruns\s+true\b",
        r"\bfit(?:s|ted)?\s+(?:me\s+)?(?:(?:just|so|very|really|absolutely|pretty|quite)\s+)?"
        r"(?:perfectly|perfect|great|well|nicely|beautifully|amazingly|wonderfully|fine|like\s+a\s+glove|as\s+expected|just\s+right|right)\b",
        r"\b(?:perfect|great|good|nice|excellent|wonderful)\s+fit\b",
        r"\b(?:fit|sizing|size)\s+(?:is|was)\s+(?:(?:just|so|very|really|absolutely|spot)\s+)?(?:perfect|great|good|right|accurate|on|fine|spot\s+on)\b",
        r"\b(?:my|the)\s+(?:usual|normal|regular|typical|standard)\s+size\s+(?:fits?|was|is)\b",
    ],
}
_PATTERNS = {
    direction: re.compile("|".join(f"(?:{cue})" for cue in cues), re.IGNORECASE) for direction, cues in _CUES.items()
}
# A negator up to three words before a cue denies it ("not too small", "doesn't run large", "never had to size up").
_NEGATED = re.compile(r"(?:\b(?:not|no|never|nor|without)|n't|n’t)\s+(?:\S+\s+){0,3}$", re.IGNORECASE)
_CONTRAST = re.compile(r"\b(?:but|however|though|although|yet)\b", re.IGNORECASE)


def _cues(text: str) -> set[str]:
    """Directions whose cues the text states; a denied small/large cue says the size is right."""
    found = set()
    for direction, pattern in _PATTERNS.items():
        for match in pattern.finditer(text):
            denied = _NEGATED.search(text[: match.start()]) is not None
            found.add("true_to_size" if denied and direction != "true_to_size" else direction if not denied else "")
    found.discard("")
    return found


def sentence_direction(text: str) -> str | None:
    """Which way one size/fit sentence says the size errs: "small", "true_to_size" or "large"; None when it does
    not say."""
    clauses = _CONTRAST.split(text)
    for clause in (clauses[-1], text) if len(clauses) > 1 else (text,):
        cues = _cues(clause)
        errs = cues - {"true_to_size"}
        if len(errs) == 2:
            return None
        if errs:
            return errs.pop()
        if cues:
            return "true_to_size"
    return None


def review_direction(sentences: Iterable[str]) -> str | None:
    """The direction most of one review's size/fit sentences take; an error beats true to size on a tie (it is the
    more specific statement), small against large says nothing."""
    counts = Counter(direction for direction in map(sentence_direction, sentences) if direction)
    if not counts:
        return None
    top = max(counts.values())
    best = {direction for direction, n in counts.items() if n == top}
    if {"small", "large"} <= best:
        return None
    return (best - {"true_to_size"}).pop() if best - {"true_to_size"} else "true_to_size"


def product_fit(sentences_by_review: Mapping[object, Sequence[str]]) -> dict:
    """The verdict over a product's reviews (each its size/fit sentences, in order): how many reviews say each
    direction, the direction most of them say (true to size on a tie), or None below FIT_MIN_REVIEWS reviews that
    say one, and the first sentence that says each direction."""
    reviews: Counter = Counter()
    examples: dict[str, str] = {}
    for sentences in sentences_by_review.values():
        if direction := review_direction(sentences):
            reviews[direction] += 1
            if direction not in examples:
                examples[direction] = next(text for text in sentences if sentence_direction(text) == direction)
    counts = {direction: reviews.get(direction, 0) for direction in DIRECTIONS}
    said = sum(counts.values())
    verdict = None
    if said and said >= int(setting("FIT_MIN_REVIEWS")):
        top = max(counts.values())
        verdict = (
            "true_to_size"
            if counts["true_to_size"] == top or counts["small"] == counts["large"] == top
            else max(counts, key=counts.get)
        )
    return {
        "verdict": verdict,
        "label": VERDICTS.get(verdict),
        "reviews": counts,
        "reviews_saying": said,
        "examples": examples,
    }
