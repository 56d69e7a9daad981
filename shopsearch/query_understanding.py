"""What a query asks besides its words: price limits, a category it names, typos to correct.

`interpret` turns what the shopper typed into what the retrievers get:

- **Price phrases** ("under 50", "below $30", "between 20 and 40", "$20-$40", "50 or less", "over 100") become price
  filters, combined with the shopper's own (the narrower limit wins), and leave the query, so "shirt under 50" no
  longer matches "Intimates #50". "cheap" (and "inexpensive", "affordable", "budget", "bargain") is a boost of the
  cheaper half of the retrieved products that have a price, not a filter. Where no product has a price, price words
  are left in the query as typed: a filter nothing can pass would hide every product.
- **A category the query names** (a word of the last part of a category path, stemmed as the keyword retriever
  stems: "dress" names "Dresses", "hoodie" names "Men/Tops/Hoodies & Sweatshirts") boosts that category's products; it
  never filters, since the shopper did not choose it.
- **Typos**: words the catalogue lacks are corrected by `vocabulary.correct` for the keyword retriever and the
  encoder (what was corrected is `corrected_query` in the API, "showing results for …").

A boost multiplies a hit's odds of being relevant by UNDERSTOOD_BOOST where the score is a probability (hybrid with
FUSION "adaptive"), and the score itself otherwise: a boosted product passes another only where the other is less
than that many times as likely to be relevant. Everything understood is returned (`Interpretation.understood`) so
the storefront can show it as a removable chip (the API's `understand=false` takes the query as typed).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from . import vocabulary
from .conf import setting
from .routers import read_connection as connection

if TYPE_CHECKING:
    from .search import Filters

_NUMBER = r"(?:[$€£]\s*)?(\d{1,7}(?:[.,]\d{1,2})?)(?:\s*(?:[$€£]|dollars?|usd|eur|euros?|bucks)(?!\w))?"
_NOT_A_UNIT = (
    r"(?!\s*(?:%|\"|'|[.,]?\d|(?:inch|inches|in|cm|mm|m|ft|feet|foot|lbs?|pounds?|oz|ounces?|gb|tb|mb|kg|g|ml|l|w|watts?|v|volts?"
    r"|mah|packs?|pcs?|pieces?|count|ct|years?|yrs?|months?|x|k)(?!\w)))"
)
PRICE_PHRASES: tuple[tuple[str, re.Pattern], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE))
    for kind, pattern in (
        ("range", rf"(?<!\w)(?:between|from)\s+{_NUMBER}\s*(?:and|to|-|–)\s*{_NUMBER}{_NOT_A_UNIT}"),
        ("range", rf"(?<![\w.])[$€£]\s*(\d{{1,7}}(?:[.,]\d{{1,2}})?)\s*(?:-|–|to)\s*{_NUMBER}{_NOT_A_UNIT}"),
        (
            "max",
            rf"(?<!\w)(?:under|below|less\s+than|cheaper\s+than|up\s+to|at\s+most|no\s+more\s+than|max(?:imum)?|<=?)\s*{_NUMBER}{_NOT_A_UNIT}",
        ),
        (
            "max",
            r"(?<![\w.])(?:[$€£]\s*)?(\d{1,7}(?:[.,]\d{1,2})?)(?:\s*(?:[$€£]|dollars?|usd|eur|euros?|bucks))?\s+(?:or\s+less|or\s+under|and\s+under)(?!\w)",
        ),
        ("min", rf"(?<!\w)(?:over|above|more\s+than|at\s+least|min(?:imum)?|>=?)\s*{_NUMBER}{_NOT_A_UNIT}"),
        (
            "min",
            r"(?<![\w.])(?:[$€£]\s*)?(\d{1,7}(?:[.,]\d{1,2})?)(?:\s*(?:[$€£]|dollars?|usd|eur|euros?|bucks))?\s+(?:or\s+more|and\s+up|and\s+over)(?!\w)",
        ),
    )
)
CHEAP = re.compile(
    r"(?<!\w)(?:cheap|cheaper|cheapest|inexpensive|affordable|budget|bargain|low[- ]priced?)(?!\w)", re.IGNORECASE
)
CATEGORY_CACHE_SECONDS = 60.0  # a new category is understood at most this long after its first product is indexed


@dataclass(frozen=True)
class Interpretation:
    keyword_text: str  # what the keyword retriever and the highlights get: price phrases out, typos corrected
    semantic_text: str  # what the encoder gets
    filters: Filters  # the shopper's filters narrowed by the price phrases
    corrections: dict[str, str] = field(default_factory=dict)
    categories: tuple[str, ...] = ()  # categories the query names (boosted)
    cheap: bool = False  # boost the cheaper half of the retrieved products
    removed: tuple[str, ...] = ()  # the phrases taken out of the query, as typed
    min_price: Decimal | None = None
    max_price: Decimal | None = None

    @property
    def corrected_query(self) -> str | None:
        """The query as searched where a typo was corrected ("showing results for …"), else None."""
        return self.keyword_text if self.corrections else None

    @property
    def understood(self) -> dict | None:
        """What was understood beyond the words (None: nothing): price limits, boosts, the phrases taken out."""
        found = {
            "min_price": self.min_price,
            "max_price": self.max_price,
            "cheap": self.cheap,
            "categories": list(self.categories),
            "removed": list(self.removed),
        }
        return found if any(found.values()) else None


def as_typed(query: str, filters: Filters, collection: str = "") -> Interpretation:
    """The query taken exactly as typed (understand=false)."""
    return Interpretation(query, query, filters)


def interpret(query: str, filters: Filters, collection: str) -> Interpretation:
    """What the retrievers get for `query`, and what was understood (module docstring)."""
    text, low, high, cheap, removed = query, None, None, False, []
    if (any(pattern.search(query) for _, pattern in PRICE_PHRASES) or CHEAP.search(query)) and _has_prices(collection):
        for kind, pattern in PRICE_PHRASES:
            for match in pattern.finditer(text):
                values = [Decimal(group.replace(",", ".")) for group in match.groups() if group is not None]
                if kind == "range":
                    low, high = _tighter(low, min(values), max), _tighter(high, max(values), min)
                elif kind == "max":
                    high = _tighter(high, values[0], min)
                else:
                    low = _tighter(low, values[0], max)
                removed.append(match.group().strip())
            text = pattern.sub(" ", text)
        cheap = bool(CHEAP.search(text))
        removed += [match.group() for match in CHEAP.finditer(text)]
        text = CHEAP.sub(" ", text)
    text = " ".join(text.split())
    if not re.search(r"\w", text):  # nothing but price words: search for them as typed, under the filters
        text = query
    narrowed = replace(
        filters, min_price=_tighter(filters.min_price, low, max), max_price=_tighter(filters.max_price, high, min)
    )
    correction = vocabulary.correct(text, collection)
    return Interpretation(
        keyword_text=correction.text,
        semantic_text=correction.text,
        filters=narrowed,
        corrections=correction.corrections,
        categories=named_categories(correction.text, collection),
        cheap=cheap,
        removed=tuple(removed),
        min_price=low,
        max_price=high,
    )


def _tighter(current: Decimal | None, new: Decimal | None, pick) -> Decimal | None:
    return new if current is None else current if new is None else pick(current, new)


_prices: dict[str, tuple[float, bool]] = {}
_categories: dict[str, tuple[float, list[tuple[str, list[list[str]]]]]] = {}


def clear_caches() -> None:
    """Forget the cached price and category facts of every collection (tests: a flushed database; measurements)."""
    _prices.clear()
    _categories.clear()


def _has_prices(collection: str) -> bool:
    """Whether some product of the collection has a price (cached CATEGORY_CACHE_SECONDS)."""
    cached = _prices.get(collection)
    if cached is None or time.monotonic() - cached[0] > CATEGORY_CACHE_SECONDS:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM shopsearch_document "
                "WHERE collection = %s AND kind = 'product' AND price IS NOT NULL)",
                [collection],
            )
            cached = _prices[collection] = (time.monotonic(), bool(cursor.fetchone()[0]))
    return cached[1]


def _category_terms(collection: str) -> list[tuple[str, list[list[str]]]]:
    """Each category of the collection with the stemmed words of each name its last path part gives ("Hoodies &
    Sweatshirts": [["hoodi"], ["sweatshirt"]]); cached CATEGORY_CACHE_SECONDS."""
    cached = _categories.get(collection)
    if cached is None or time.monotonic() - cached[0] > CATEGORY_CACHE_SECONDS:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.category, array_agg(DISTINCT array_to_string("
                "  tsvector_to_array(to_tsvector('english', shopsearch_unaccent(name))), ' ')) "
                "FROM (SELECT DISTINCT category FROM shopsearch_document "
                "      WHERE collection = %s AND kind = 'product' AND category IS NOT NULL) c, "
                r"regexp_split_to_table(regexp_replace(c.category, '^.*/', ''), '\s*(?:&|,|\+|\mand\M)\s*') AS name "
                "GROUP BY c.category",
                [collection],
            )
            terms = [
                (category, [names.split() for names in alternatives if names])
                for category, alternatives in cursor.fetchall()
            ]
        cached = _categories[collection] = (time.monotonic(), terms)
    return cached[1]


def named_categories(text: str, collection: str) -> tuple[str, ...]:
    """The categories one of whose names (all its stemmed words) the query has."""
    terms = _category_terms(collection)
    # A stem is its word's beginning, but for its last letter ("hobbi" for "hobby"): a query none of whose words
    # begins so asks the database nothing (most queries name no category).
    words = [vocabulary.fold(word) for word in re.findall(r"\w+", text)]
    stems = {stem[:-1] or stem for _, names in terms for name in names for stem in name}
    if not any(word.startswith(stem) for word in words for stem in stems):
        return ()
    with connection.cursor() as cursor:
        cursor.execute("SELECT tsvector_to_array(to_tsvector('english', shopsearch_unaccent(%s)))", [text])
        lexemes = set(cursor.fetchone()[0] or ())
    return tuple(sorted(category for category, names in terms if any(name and set(name) <= lexemes for name in names)))


def boost(
    ranked: list[tuple[int, float]], interpretation: Interpretation, probabilities: bool
) -> list[tuple[int, float]]:
    """`ranked` (document id, score) with the products of the named categories, and with "cheap" the cheaper half of
    those with a price, boosted by UNDERSTOOD_BOOST (odds × boost for probabilities, score × boost otherwise);
    re-sorted, ties in their order."""
    if not ranked or not (interpretation.categories or interpretation.cheap):
        return ranked
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, category, price FROM shopsearch_document WHERE id = ANY(%s)", [[doc_id for doc_id, _ in ranked]]
        )
        facts = {doc_id: (category, price) for doc_id, category, price in cursor.fetchall()}
    prices = sorted(price for _, price in facts.values() if price is not None)
    median = prices[(len(prices) - 1) // 2] if prices else None
    factor = float(setting("UNDERSTOOD_BOOST"))
    boosted = []
    for doc_id, score in ranked:
        category, price = facts.get(doc_id, (None, None))
        times = (factor if category in interpretation.categories else 1.0) * (
            factor if interpretation.cheap and price is not None and median is not None and price <= median else 1.0
        )
        boosted.append((doc_id, _boosted(score, times, probabilities)))
    order = {doc_id: n for n, (doc_id, _) in enumerate(ranked)}
    return sorted(boosted, key=lambda item: (-item[1], order[item[0]]))


def _boosted(score: float, times: float, probability: bool) -> float:
    if times == 1.0:
        return score
    if probability:
        odds = score / max(1.0 - score, 1e-12) * times
        return odds / (1.0 + odds)
    return score * times if score > 0 else score / times


def explain(interpretation: Interpretation) -> dict:
    """What `explain=true` adds to every hit about the query: corrections and what was understood."""
    return {"corrections": interpretation.corrections, "understood": interpretation.understood}
