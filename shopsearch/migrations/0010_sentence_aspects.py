from django.db import migrations, models


class Migration(migrations.Migration):
    """Aspect similarities stored with each review sentence (computed by the worker, read by product pages)."""

    dependencies = [
        ("shopsearch", "0009_console"),
    ]

    operations = [
        migrations.AddField(model_name="reviewsentence", name="aspect_similarity", field=models.JSONField(blank=True, default=dict)),
        migrations.AddField(model_name="reviewsentence", name="aspects_version", field=models.CharField(blank=True, default="", max_length=16)),
    ]
