from django.db import migrations, models


def warning_to_warnings(apps, schema_editor):
    GenerationJob = apps.get_model("generation", "GenerationJob")
    for job in GenerationJob.objects.exclude(warning="").only("pk", "warning"):
        GenerationJob.objects.filter(pk=job.pk).update(warnings=[job.warning])


def warnings_to_warning(apps, schema_editor):
    GenerationJob = apps.get_model("generation", "GenerationJob")
    for job in GenerationJob.objects.exclude(warnings=[]).only("pk", "warnings"):
        GenerationJob.objects.filter(pk=job.pk).update(warning=" ".join(job.warnings))


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0005_fk_free_ordering"),
    ]

    operations = [
        migrations.AddField(
            model_name="generationjob",
            name="asked",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="generationjob",
            name="got",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="generationjob",
            name="warnings",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.RunPython(warning_to_warnings, warnings_to_warning),
        migrations.RemoveField(
            model_name="generationjob",
            name="warning",
        ),
    ]
