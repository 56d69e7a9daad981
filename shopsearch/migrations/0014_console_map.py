"""The console's embedding map per space, recorded task failures, and the fine-tune and map permissions."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shopsearch", "0013_document_facets")]

    operations = [
        migrations.AlterModelOptions(
            name="consolejob",
            options={
                "permissions": [
                    ("view_console", "Can see the shopsearch dashboard and analytics"),
                    ("run_reindex", "Can reindex from the console"),
                    ("switch_space", "Can switch search to another embedding space"),
                    ("rollback_space", "Can roll search back to the previous space"),
                    ("build_space", "Can build a new embedding space"),
                    ("train_sentiment", "Can train the review sentiment classifier"),
                    ("discover_aspects", "Can discover review aspects"),
                    ("finetune", "Can fine-tune the embedding model"),
                    ("compute_map", "Can compute the embedding map"),
                ]
            },
        ),
        migrations.CreateModel(
            name="EmbeddingMap",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("method", models.CharField(max_length=20)),
                ("mean", models.JSONField(help_text="the product vectors' mean, subtracted before projecting")),
                ("components", models.JSONField(help_text="the two projection axes (unit vectors of the space)")),
                ("explained_variance", models.JSONField(help_text="share of the vectors' variance along each axis")),
                ("points", models.JSONField(help_text="[[product id, x, y], ...]")),
                ("products", models.PositiveIntegerField()),
                ("seconds", models.FloatField(help_text="how long reading the vectors and fitting took")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "space",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE, related_name="map", to="shopsearch.embeddingspace"
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="TaskFailure",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("task", models.CharField(max_length=200)),
                ("task_id", models.CharField(blank=True, default="", max_length=100)),
                ("error", models.TextField()),
                ("failed_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={"indexes": [models.Index(fields=["failed_at"], name="shopsearch_failure_time")]},
        ),
    ]
