from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('training', '0018_model_version_origin'),
    ]

    operations = [
        migrations.AddField(
            model_name='datasetexport',
            name='prompt_variant',
            field=models.CharField(choices=[('full', 'Full (rubric and schema)'), ('compact', 'Compact (for fine-tuned graders)')], default='full', help_text='The system prompt written into every row: the full rubric and schema, or the compact one.', max_length=10),
        ),
        migrations.AddField(
            model_name='modelversion',
            name='prompt_variant',
            field=models.CharField(choices=[('full', 'Full (rubric and schema)'), ('compact', 'Compact (for fine-tuned graders)')], default='full', help_text='The system prompt this version was trained with; the Modelfile, router and comparisons send it.', max_length=10),
        ),
        migrations.AddField(
            model_name='finetunerun',
            name='device',
            field=models.CharField(blank=True, help_text='cpu, cuda or mps.', max_length=20),
        ),
        migrations.AddField(
            model_name='finetunerun',
            name='gpu_name',
            field=models.CharField(blank=True, help_text='The GPU model(s), when trained on a GPU.', max_length=200, verbose_name='GPU'),
        ),
        migrations.AddField(
            model_name='finetunerun',
            name='precision',
            field=models.CharField(blank=True, help_text='fp32, fp16, bf16 or 4bit (QLoRA).', max_length=10),
        ),
        migrations.AddField(
            model_name='finetunerun',
            name='tokens_per_second',
            field=models.FloatField(blank=True, help_text='Training tokens per second.', null=True),
        ),
        migrations.AddField(
            model_name='finetunerun',
            name='peak_memory_mb',
            field=models.FloatField(blank=True, help_text="Peak memory: the GPU's allocator on a GPU, the process's RSS on a CPU.", null=True, verbose_name='peak memory (MB)'),
        ),
        migrations.AlterField(
            model_name='finetunerun',
            name='base_model',
            field=models.CharField(help_text='A local model directory, or a Hugging Face hub id (org/name[@revision]) fetched before the run is stored.', max_length=500),
        ),
        migrations.AlterField(
            model_name='modelversion',
            name='gguf_path',
            field=models.CharField(blank=True, max_length=500, verbose_name='GGUF path'),
        ),
    ]
