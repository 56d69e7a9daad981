"""Keyword search: documents get a collection (the shop's or an evaluation set's) and a weighted full-text vector.

`unaccent()` is only STABLE (its dictionary could change), so it cannot feed a generated column or an expression
index. `shopsearch_unaccent` pins the dictionary and is declared IMMUTABLE, the documented way round it; then the
tsvector is a generated column that every writer (ORM, bulk upserts, raw SQL) keeps current without extra code.
Weights: title A, description B, attribute values C; english stemming.
"""
from django.db import migrations, models

FORWARD = """
CREATE FUNCTION shopsearch_unaccent(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$;
ALTER TABLE shopsearch_document ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english'::regconfig, shopsearch_unaccent(coalesce(title, ''))), 'A')
    || setweight(to_tsvector('english'::regconfig, shopsearch_unaccent(coalesce(description, ''))), 'B')
    || setweight(jsonb_to_tsvector('english'::regconfig, attributes, '["string"]'), 'C')
) STORED;
CREATE INDEX shopsearch_doc_fts ON shopsearch_document USING gin (search_vector);
CREATE INDEX shopsearch_doc_title_trgm ON shopsearch_document USING gin (shopsearch_unaccent(title) gin_trgm_ops);
"""
BACKWARD = """
DROP INDEX IF EXISTS shopsearch_doc_title_trgm;
DROP INDEX IF EXISTS shopsearch_doc_fts;
ALTER TABLE shopsearch_document DROP COLUMN IF EXISTS search_vector;
DROP FUNCTION IF EXISTS shopsearch_unaccent(text);
"""


class Migration(migrations.Migration):

    dependencies = [
        ('shopsearch', '0001_initial'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='document',
            name='shopsearch_document_object',
        ),
        migrations.AddField(
            model_name='document',
            name='collection',
            field=models.CharField(blank=True, default='', max_length=100),
        ),
        migrations.AddConstraint(
            model_name='document',
            constraint=models.UniqueConstraint(fields=('collection', 'kind', 'object_id'), name='shopsearch_document_object'),
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
