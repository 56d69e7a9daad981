"""The catalogue's terms with how many products have each, and typo correction of query words against them.

Two per-collection counts of the product documents, kept current by the same code (`counts`, `apply`, `rebuild`):
- `Word` rows: every word of the products' indexed texts (title, description, attribute values; unaccented, lower
  case, letters only, 3-40 of them), under a trigram index: the vocabulary typo correction reads.
- `Lexeme` rows: every lexeme of the products' `search_vector` (english-stemmed, as the keyword query's are), and
  `ProductTotal`, the collection's product count: the document frequencies of the keyword IDF
  (`search.keyword_matches`), read instead of counted per query.
Indexing keeps them current: a batch of the worker's (`indexing.index_objects`) applies the difference between
what its products had and have (`counts` before and after, then `apply`, in the same transaction, at its end so
the collection's lock, `_lock_collection`, is held for a moment only); `reindex` and an evaluation collection's load
recount a collection from its documents (`rebuild`).

A query word that no product has, not even in another form (no product's stemmed text matches it: "titans" is
left alone where products say "titan"), is corrected (`correct`) to the vocabulary word nearest to it: trigram
candidates (pg_trgm, similarity from TYPO_CANDIDATE_SIMILARITY), then the optimal string alignment distance (an
insertion, deletion, substitution or swap of two neighbours is one edit) to the word, or to its english stem from
the typed word or from the typed word's stem, since the keyword retriever matches stems ("jaket" is corrected to
"jackets" where no product says "jacket", "blouce" to "blouses": stems "blouc" and "blous"). As
Meilisearch does, how many edits are allowed depends on the typed word's length (TYPO_EDITS: 1 from 5 letters, 2
from 9), so short words are never changed; among the allowed candidates the fewest edits win, then the word most
products have. Words with digits (sizes, model numbers) are never corrected.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import connection as write_connection
from django.db import transaction

from .conf import setting
from .routers import read_connection

# The words of a product document `d`, one row per distinct word: what the keyword retriever indexes (migration 0002).
_DOCUMENT_WORDS = """
    SELECT d.id AS document_id, w.word AS term FROM shopsearch_document d CROSS JOIN LATERAL (
        SELECT DISTINCT lexeme AS word FROM unnest(tsvector_to_array(
            to_tsvector('simple', shopsearch_unaccent(coalesce(d.title, '') || ' ' || coalesce(d.description, '')))
            || jsonb_to_tsvector('simple', d.attributes, '["string"]'))) lexeme
        WHERE lexeme ~ '^[[:alpha:]]{3,40}$') w"""
# The lexemes of a product document `d` (a tsvector holds each once): what its `search_vector` matches.
_DOCUMENT_LEXEMES = """
    SELECT d.id AS document_id, l.lexeme AS term
    FROM shopsearch_document d CROSS JOIN LATERAL unnest(tsvector_to_array(d.search_vector)) AS l(lexeme)"""


@dataclass(frozen=True)
class Terms:
    """One per-collection count of product documents by term: its table and column, and the SQL of a document's
    distinct terms (`document_id`, `term`; filtered by the caller's WHERE on `d`)."""

    table: str
    column: str
    source: str


WORDS = Terms("shopsearch_word", "word", _DOCUMENT_WORDS)
LEXEMES = Terms("shopsearch_lexeme", "lexeme", _DOCUMENT_LEXEMES)
TERMS = (WORDS, LEXEMES)


@dataclass(frozen=True)
class Counts:
    """What some products have, as their documents stand: how many documents, and per term table the documents
    per term."""

    products: int = 0
    terms: dict[Terms, Counter] = field(default_factory=dict)


_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Correction:
    text: str  # the query with its corrected words replaced (as typed where nothing was corrected)
    corrections: dict[str, str] = field(default_factory=dict)  # word as typed (lower case) -> the vocabulary word


def fold(word: str) -> str:
    """A word as the vocabulary holds it: lower case, accents removed (as shopsearch_unaccent does)."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _lock_collection(cursor, collection: str, change: int = 0) -> None:
    """Add `change` to the collection's product total, locking its row until the commit.

    That row is the collection's lock: `apply` and `rebuild` write it first, so they run one at a time per
    collection. A rebuild then never counts beside a batch's uncommitted difference (it waits for the batch's
    commit, or the batch applies after the rebuild's), and two batches never deadlock on the rows of terms they
    share, whatever their order."""
    cursor.execute(
        "INSERT INTO shopsearch_producttotal (collection, products) VALUES (%s, %s) ON CONFLICT (collection) "
        "DO UPDATE SET products = shopsearch_producttotal.products + EXCLUDED.products",
        [collection, change],
    )


def rebuild(collection: str) -> None:
    """Recount `collection`'s terms and product total from its product documents (reindex, evaluation loads)."""
    with transaction.atomic(), write_connection.cursor() as cursor:
        _lock_collection(cursor, collection)  # its own statement: the counts below are taken once the lock is held
        for terms in TERMS:
            cursor.execute(f"DELETE FROM {terms.table} WHERE collection = %s", [collection])
            cursor.execute(
                f"INSERT INTO {terms.table} (collection, {terms.column}, documents) "
                f"SELECT %s, t.term, count(*) FROM ({terms.source} WHERE d.collection = %s AND d.kind = 'product') t "
                "GROUP BY t.term",
                [collection, collection],
            )
        cursor.execute(
            "UPDATE shopsearch_producttotal SET products = (SELECT count(*) FROM shopsearch_document "
            "WHERE collection = %s AND kind = 'product') WHERE collection = %s",
            [collection, collection],
        )


def counts(collection: str, object_ids: Iterable[str]) -> Counts:
    """How many of these products (by object id) there are and have each term, as their documents stand now."""
    ids = [str(pk) for pk in object_ids]
    if not ids:
        return Counts()
    where = "WHERE d.collection = %s AND d.kind = 'product' AND d.object_id = ANY(%s)"
    with write_connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM shopsearch_document d {where}", [collection, ids])
        products = cursor.fetchone()[0]
        per_terms = {}
        for terms in TERMS:
            cursor.execute(
                f"SELECT t.term, count(*) FROM ({terms.source} {where}) t GROUP BY t.term", [collection, ids]
            )
            per_terms[terms] = Counter(dict(cursor.fetchall()))
        return Counts(products, per_terms)


def apply(collection: str, before: Counts, after: Counts) -> None:
    """Move the collection's counts from `before` to `after` (counts of the same products): add the difference
    under the collection's lock (`_lock_collection`), and drop the terms no product has."""
    deltas = {}
    for terms in TERMS:
        old, new = before.terms.get(terms, Counter()), after.terms.get(terms, Counter())
        delta = {term: new.get(term, 0) - old.get(term, 0) for term in set(old) | set(new)}
        deltas[terms] = {term: change for term, change in delta.items() if change}
    if after.products == before.products and not any(deltas.values()):
        return
    with write_connection.cursor() as cursor:
        _lock_collection(cursor, collection, after.products - before.products)
        for terms, delta in deltas.items():
            if not delta:
                continue
            cursor.execute(
                f"INSERT INTO {terms.table} (collection, {terms.column}, documents) "
                "SELECT %s, t.term, t.change FROM unnest(%s::text[], %s::int[]) AS t(term, change) "
                f"ON CONFLICT (collection, {terms.column}) "
                f"DO UPDATE SET documents = {terms.table}.documents + EXCLUDED.documents",
                [collection, list(delta), list(delta.values())],
            )
            cursor.execute(
                f"DELETE FROM {terms.table} WHERE collection = %s AND {terms.column} = ANY(%s) AND documents <= 0",
                [collection, [term for term, change in delta.items() if change < 0]],
            )


def allowed_edits(length: int) -> int:
    """Edits a correction may make to a query word of `length` letters."""
    return sum(length >= minimum for minimum in setting("TYPO_EDITS"))


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours, one each."""
    previous2, previous = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


def correct(query: str, collection: str) -> Correction:
    """The query with each word the catalogue lacks replaced by its nearest frequent vocabulary word (module doc).
    One round trip when every word is known; two when some are not."""
    spans = [(match.start(), match.end(), fold(match.group())) for match in _WORD.finditer(query)]
    words = sorted({word for _, _, word in spans if allowed_edits(len(word)) and word.isalpha()})
    if not words:
        return Correction(query)
    with read_connection.cursor() as cursor:  # one round trip, no transaction, when every word is known (most queries)
        cursor.execute("SELECT word FROM shopsearch_word WHERE collection = %s AND word = ANY(%s)", [collection, words])
        unknown = sorted(set(words) - {word for (word,) in cursor.fetchall()})
    if not unknown:
        return Correction(query)
    with transaction.atomic(using=read_connection.alias), read_connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('pg_trgm.similarity_threshold', %s, true)", [str(setting("TYPO_CANDIDATE_SIMILARITY"))]
        )
        cursor.execute(  # candidates for the words no product's stemmed text matches (not a known word's other form)
            "SELECT t.typed, (ts_lexize('english_stem', t.typed))[1], c.word, c.documents, c.similarity, "
            "  (ts_lexize('english_stem', c.word))[1] "
            "FROM unnest(%s::text[]) AS t(typed) CROSS JOIN LATERAL ("
            "  SELECT w.word, w.documents, similarity(w.word, t.typed) AS similarity FROM shopsearch_word w"
            "  WHERE w.word %% t.typed AND w.collection = %s ORDER BY similarity DESC, w.word LIMIT 50) c "
            "WHERE NOT EXISTS (SELECT 1 FROM shopsearch_document d WHERE d.collection = %s AND d.kind = 'product'"
            "  AND d.search_vector @@ plainto_tsquery('english', shopsearch_unaccent(t.typed)))",
            [unknown, collection, collection],
        )
        candidates = cursor.fetchall()
    best: dict[str, tuple] = {}
    for typed, typed_stem, word, documents, similarity, stem in candidates:
        # near the word, its stem, or stem to stem: "jaket" is 2 edits from "jackets", a catalogue's only form, 1
        # from "jacket"; "blouce" is 2 from "blouses" and from "blous", but its stem "blouc" is 1 from "blous"
        pairs = ((typed, word), (typed, stem), (typed_stem, stem))
        edits = min(edit_distance(a, b) for a, b in pairs if a and b)
        if 0 < edits <= allowed_edits(len(typed)):
            key = (edits, -documents, -similarity, word)
            if typed not in best or key < best[typed]:
                best[typed] = key
    corrections = {typed: key[3] for typed, key in sorted(best.items())}
    if not corrections:
        return Correction(query)
    text = query
    for start, end, word in reversed(spans):
        if word in corrections:
            text = text[:start] + corrections[word] + text[end:]
    return Correction(text, corrections)
