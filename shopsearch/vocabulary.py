"""The catalogue's words, and typo correction of query words against them.

`Word` rows hold, per collection, every word of the products' indexed texts (title, description, attribute values;
unaccented, lower case, letters only, 3-40 of them) with the number of products that have it, under a trigram
index. Indexing keeps them current: a batch of the worker's (`indexing.index_objects`) applies the difference
between the words its products had and have (`counts` before and after, then `apply`, in the same transaction, at
its end so the rows of common words stay locked for a moment only); `reindex` and an evaluation collection's load
recount a collection from its documents (`rebuild`).

A query word that no product has, not even in another form (no product's stemmed text matches it: "titans" is
left alone where products say "titan"), is corrected (`correct`) to the vocabulary word nearest to it: trigram
candidates (pg_trgm, similarity from TYPO_CANDIDATE_SIMILARITY), then the optimal string alignment distance (an
insertion, deletion, substitution or swap of two neighbours is one edit). As Meilisearch does, how many edits are
allowed depends on the typed word's length (TYPO_EDITS: 1 from 5 letters, 2 from 9), so short words are never
changed; among the allowed candidates the fewest edits win, then the word most products have. Words with digits
(sizes, model numbers) are never corrected.
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
    SELECT d.id AS document_id, w.word FROM shopsearch_document d CROSS JOIN LATERAL (
        SELECT DISTINCT lexeme AS word FROM unnest(tsvector_to_array(
            to_tsvector('simple', shopsearch_unaccent(coalesce(d.title, '') || ' ' || coalesce(d.description, '')))
            || jsonb_to_tsvector('simple', d.attributes, '["string"]'))) lexeme
        WHERE lexeme ~ '^[[:alpha:]]{3,40}$') w"""
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Correction:
    text: str  # the query with its corrected words replaced (as typed where nothing was corrected)
    corrections: dict[str, str] = field(default_factory=dict)  # word as typed (lower case) -> the vocabulary word


def fold(word: str) -> str:
    """A word as the vocabulary holds it: lower case, accents removed (as shopsearch_unaccent does)."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def rebuild(collection: str) -> int:
    """Recount `collection`'s vocabulary from its product documents (reindex, evaluation loads); returns its size."""
    with transaction.atomic(), write_connection.cursor() as cursor:
        cursor.execute("DELETE FROM shopsearch_word WHERE collection = %s", [collection])
        cursor.execute(
            "INSERT INTO shopsearch_word (collection, word, documents) "
            f"SELECT %s, w.word, count(*) FROM ({_DOCUMENT_WORDS} WHERE d.collection = %s AND d.kind = 'product') w "
            "GROUP BY w.word",
            [collection, collection],
        )
        return cursor.rowcount


def counts(collection: str, object_ids: Iterable[str]) -> Counter:
    """How many of these products (by object id) have each word, as their documents stand now."""
    ids = [str(pk) for pk in object_ids]
    if not ids:
        return Counter()
    with write_connection.cursor() as cursor:
        cursor.execute(
            f"SELECT w.word, count(*) FROM ({_DOCUMENT_WORDS} "
            "WHERE d.collection = %s AND d.kind = 'product' AND d.object_id = ANY(%s)) w GROUP BY w.word",
            [collection, ids],
        )
        return Counter(dict(cursor.fetchall()))


def apply(collection: str, before: Counter, after: Counter) -> None:
    """Move the vocabulary from `before` to `after` (counts of the same products): add the difference, in word order
    (two batches lock shared words in the same order, so they never deadlock), and drop words no product has."""
    delta = {word: after.get(word, 0) - before.get(word, 0) for word in sorted(set(before) | set(after))}
    delta = {word: change for word, change in delta.items() if change}
    if not delta:
        return
    with write_connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO shopsearch_word (collection, word, documents) "
            "SELECT %s, t.word, t.change FROM unnest(%s::text[], %s::int[]) AS t(word, change) ORDER BY t.word "
            "ON CONFLICT (collection, word) DO UPDATE SET documents = shopsearch_word.documents + EXCLUDED.documents",
            [collection, list(delta), list(delta.values())],
        )
        cursor.execute(
            "DELETE FROM shopsearch_word WHERE collection = %s AND word = ANY(%s) AND documents <= 0",
            [collection, [word for word, change in delta.items() if change < 0]],
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
            "SELECT t.typed, c.word, c.documents, c.similarity FROM unnest(%s::text[]) AS t(typed) CROSS JOIN LATERAL ("
            "  SELECT w.word, w.documents, similarity(w.word, t.typed) AS similarity FROM shopsearch_word w"
            "  WHERE w.word %% t.typed AND w.collection = %s ORDER BY similarity DESC, w.word LIMIT 50) c "
            "WHERE NOT EXISTS (SELECT 1 FROM shopsearch_document d WHERE d.collection = %s AND d.kind = 'product'"
            "  AND d.search_vector @@ plainto_tsquery('english', shopsearch_unaccent(t.typed)))",
            [unknown, collection, collection],
        )
        candidates = cursor.fetchall()
    best: dict[str, tuple] = {}
    for typed, word, documents, similarity in candidates:
        edits = edit_distance(typed, word)
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
