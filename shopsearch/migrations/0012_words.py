import django.contrib.postgres.indexes
from django.db import migrations, models

# The vocabulary of the products already indexed (the same words vocabulary._DOCUMENT_WORDS reads), so typo
# correction works right after upgrading, before the next reindex recounts it.
FILL = """
INSERT INTO shopsearch_word (collection, word, documents)
SELECT d.collection, w.word, count(*) FROM shopsearch_document d CROSS JOIN LATERAL (
    SELECT DISTINCT lexeme AS word FROM unnest(tsvector_to_array(
        to_tsvector('simple', shopsearch_unaccent(coalesce(d.title, '') || ' ' || coalesce(d.description, '')))
        || jsonb_to_tsvector('simple', d.attributes, '["string"]'))) lexeme
    WHERE lexeme ~ '^[[:alpha:]]{3,40}$') w
WHERE d.kind = 'product' GROUP BY d.collection, w.word
"""


class Migration(migrations.Migration):
    """The words of the indexed product texts with how many products have each, under a trigram index: the
    vocabulary typo correction reads (shopsearch/vocabulary.py)."""

    dependencies = [("shopsearch", "0011_embedding_updated_at")]

    operations = [
        migrations.CreateModel(
            name="Word",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("collection", models.CharField(blank=True, default="", max_length=100)),
                ("word", models.CharField(max_length=40)),
                ("documents", models.IntegerField()),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("collection", "word"), name="shopsearch_word_once")],
                "indexes": [
                    django.contrib.postgres.indexes.GinIndex(
                        fields=["word"], name="shopsearch_word_trgm", opclasses=["gin_trgm_ops"]
                    )
                ],
            },
        ),
        migrations.RunSQL(FILL, migrations.RunSQL.noop),
    ]
