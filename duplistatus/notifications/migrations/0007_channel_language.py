from django.db import migrations, models


def pt_is_pt_br(apps, schema_editor):
    """The Portuguese library is Brazilian Portuguese, now named by its code "pt-br": the
    templates installed from it keep being recognised as library texts."""
    for name in ("Template", "TemplateVersion"):
        apps.get_model("notifications", name).objects.filter(language="pt").update(language="pt-br")


def pt_br_is_pt(apps, schema_editor):
    for name in ("Template", "TemplateVersion"):
        apps.get_model("notifications", name).objects.filter(language="pt-br").update(language="pt")


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0006_anomaly_channel_failing"),
    ]

    operations = [
        migrations.AddField(
            model_name="channel",
            name="language",
            field=models.CharField(blank=True, default="", max_length=10),
        ),
        migrations.RunPython(pt_is_pt_br, pt_br_is_pt),
    ]
