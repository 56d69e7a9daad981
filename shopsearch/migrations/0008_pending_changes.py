from django.db import migrations, models
import django.utils.timezone


class Migration(migrations.Migration):
    """The durable outbox of index updates (PendingChange) and the sequence its save tickets come from."""

    dependencies = [
        ("shopsearch", "0007_embedding_text_reuse"),
    ]

    operations = [
        migrations.CreateModel(
            name="PendingChange",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(max_length=10)),
                ("object_id", models.CharField(max_length=64)),
                ("seq", models.BigIntegerField(help_text="Ticket of the latest save (a database sequence): newer saves draw higher ones.")),
                ("changed_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("kind", "object_id"), name="shopsearch_pending_once")],
                "indexes": [models.Index(fields=["changed_at"], name="shopsearch_pending_age")],
            },
        ),
        migrations.RunSQL(
            "CREATE SEQUENCE shopsearch_pending_seq", reverse_sql="DROP SEQUENCE shopsearch_pending_seq"
        ),
    ]
