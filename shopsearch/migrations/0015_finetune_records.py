"""Fine-tune records: each fine-tuned model, the space it was made from and what its evaluation gate measured."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('shopsearch', '0014_console_map'),
    ]

    operations = [
        migrations.CreateModel(
            name='FineTune',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('model_folder', models.CharField(max_length=500)),
                ('source', models.CharField(help_text='qrels, clicks or catalogue', max_length=20)),
                ('pairs', models.PositiveIntegerField(help_text='training pairs used')),
                ('evaluated_on', models.CharField(blank=True, default='', help_text='the held-out judged folder', max_length=500)),
                ('evaluation', models.JSONField(blank=True, default=dict, help_text="finetune.compare: both spaces' figures per mode, and the hybrid gain")),
                ('margin', models.FloatField(blank=True, help_text='the hybrid nDCG@10 gain asked for to switch', null=True)),
                ('accepted', models.BooleanField(default=False, help_text='switched on: search uses the new space')),
                ('outcome', models.TextField()),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('base_space', models.ForeignKey(help_text='made from', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='finetunes', to='shopsearch.embeddingspace')),
                ('space', models.ForeignKey(blank=True, help_text="the new model's", null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='shopsearch.embeddingspace')),
            ],
        ),
    ]
