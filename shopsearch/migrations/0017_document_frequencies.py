from django.db import migrations, models

# The document frequencies of the products already indexed (the lexemes vocabulary._DOCUMENT_LEXEMES reads) and
# each collection's product total, so keyword search ranks as before right after upgrading, before any reindex.
FILL = """
INSERT INTO shopsearch_lexeme (collection, lexeme, documents)
SELECT d.collection, l.lexeme, count(*)
FROM shopsearch_document d CROSS JOIN LATERAL unnest(tsvector_to_array(d.search_vector)) AS l(lexeme)
WHERE d.kind = 'product' GROUP BY d.collection, l.lexeme;
INSERT INTO shopsearch_producttotal (collection, products)
SELECT collection, count(*) FROM shopsearch_document WHERE kind = 'product' GROUP BY collection;
"""


class Migration(migrations.Migration):
    """Per collection, how many products have each lexeme of their `search_vector`, and how many products there
    are: the keyword IDF's inputs, read instead of counted per query (shopsearch/vocabulary.py keeps them
    current)."""

    dependencies = [("shopsearch", "0016_space_vector_type")]

    operations = [
        migrations.CreateModel(
            name="Lexeme",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("collection", models.CharField(blank=True, default="", max_length=100)),
                ("lexeme", models.TextField()),
                ("documents", models.IntegerField()),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("collection", "lexeme"), name="shopsearch_lexeme_once")
                ],
            },
        ),
        migrations.CreateModel(
            name="ProductTotal",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("collection", models.CharField(blank=True, default="", max_length=100)),
                ("products", models.IntegerField()),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("collection",), name="shopsearch_producttotal_once")],
            },
        ),
        migrations.RunSQL(FILL, migrations.RunSQL.noop),
    ]
