from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("renders", "0001_initial"),
    ]

    operations = [
        migrations.RenameField(model_name="renderjob", old_name="remotion_render_id", new_name="backend_render_id"),
        migrations.AlterField(
            model_name="renderjob",
            name="backend_render_id",
            field=models.CharField(
                blank=True,
                help_text="The backend's id for the current attempt.",
                max_length=100,
                null=True,
                unique=True,
            ),
        ),
        migrations.AddField(
            model_name="renderjob",
            name="requeued_at",
            field=models.DateTimeField(
                blank=True, help_text="When a retry last sent it back to the queue.", null=True
            ),
        ),
    ]
