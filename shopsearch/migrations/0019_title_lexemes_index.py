"""An index of each title's own lexemes, for keyword search's "a query word in the title" candidates.

That set asked the weighted `search_vector` for weight-A lexemes, which its GIN index cannot answer: every product
with the word anywhere was read and its weights rechecked (9 ms of a broad query at 100k products). This index
answers it exactly. The expression is search.TITLE_LEXEMES, written out here because a migration must not change
when the code does. Built CONCURRENTLY, so a live shop keeps taking writes while it builds.
"""
from django.db import migrations

FORWARD = """
CREATE INDEX CONCURRENTLY IF NOT EXISTS shopsearch_doc_title_fts ON shopsearch_document
    USING gin (to_tsvector('english'::regconfig, shopsearch_unaccent(coalesce(title, ''))));
"""
BACKWARD = "DROP INDEX CONCURRENTLY IF EXISTS shopsearch_doc_title_fts;"


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('shopsearch', '0018_review_stats_index'),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
