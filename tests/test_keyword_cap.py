"""KEYWORD_MAX_MATCHES bounds how many keyword matches a query ranks (its cost on a large catalogue), without losing
the products that contain every word of the query or a query word in their title (search.keyword_matches)."""

from __future__ import annotations

import pytest
from django.db import connection

from shopsearch import indexing, search
from shopsearch.models import Document

pytestmark = pytest.mark.django_db
COLLECTION = "keyword-cap"
QUERY = "red linen dress"


def add(object_id: str, title: str, description: str) -> None:
    Document.objects.create(
        collection=COLLECTION,
        kind="product",
        object_id=object_id,
        title=title,
        description=description,
        text=f"{title}\n{description}",
        content_hash=object_id,
    )


@pytest.fixture
def catalogue():
    for n in range(60):  # one common word of the query is all these have
        add(f"common-{n}", f"Item {n}", "a dress for every day")
    add("title-word", "Linen shirt", "summer wear")  # a query word in the title, none in the description
    add("every-word", "Item x", "a red linen dress")  # every word of the query, in the description
    indexing.analyze_tables(("shopsearch_document",))


def ranked(settings, cap: int) -> list[str]:
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "KEYWORD_MAX_MATCHES": cap}
    matches = search.keyword_matches(QUERY, search.Filters(), 10, COLLECTION)
    names = dict(Document.objects.filter(pk__in=[m.id for m in matches]).values_list("pk", "object_id"))
    return [names[m.id] for m in matches]


def test_every_match_is_ranked_below_the_cap(catalogue, settings):
    hits = ranked(settings, 1000)
    assert len(hits) == 10 and hits[0] == "every-word"


def test_above_the_cap_the_products_with_every_word_and_title_words_are_still_ranked(catalogue, settings):
    hits = ranked(settings, 5)
    assert hits[0] == "every-word" and "title-word" in hits
    assert len(hits) <= 3 * 5  # each of the three candidate sets holds at most the cap


def test_the_title_candidates_are_read_from_the_title_index(catalogue):
    """search.TITLE_LEXEMES must stay the expression of migration 0019's index, or the planner cannot use it."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a table this small would be read whole otherwise
        cursor.execute(
            f"EXPLAIN SELECT d.id FROM shopsearch_document d WHERE {search.TITLE_LEXEMES} @@ 'linen'::tsquery"
        )
        plan = "\n".join(row for (row,) in cursor.fetchall())
    assert "shopsearch_doc_title_fts" in plan, plan
