"""Declared attribute facets: their values per product document, indexed for containment filters (`@>`)."""
import django.contrib.postgres.indexes
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shopsearch", "0012_words")]

    operations = [
        migrations.AddField(model_name="document", name="facets", field=models.JSONField(blank=True, default=dict)),
        migrations.AddIndex(
            model_name="document",
            index=django.contrib.postgres.indexes.GinIndex(
                fields=["facets"], name="shopsearch_doc_facets", opclasses=["jsonb_path_ops"]),
        ),
    ]
