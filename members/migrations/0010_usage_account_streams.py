from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0009_usage_websockets"),
    ]

    operations = [
        migrations.AddField(
            model_name="usageday",
            name="account_events",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="usageday",
            name="account_connection_seconds",
            field=models.PositiveBigIntegerField(default=0),
        ),
    ]
