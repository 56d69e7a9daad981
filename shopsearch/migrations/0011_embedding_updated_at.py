from django.db import migrations


class Migration(migrations.Migration):
    """Embedding.created_at was set on every rewrite of the vector (auto_now): it is the update time, and says so."""

    dependencies = [("shopsearch", "0010_sentence_aspects")]

    operations = [migrations.RenameField(model_name="embedding", old_name="created_at", new_name="updated_at")]
