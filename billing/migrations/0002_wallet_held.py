"""The wallet keeps what is held for operations in flight in a column of its own
(`held`), changed by one conditional UPDATE per hold or release, instead of summing the
in-flight operations' holds under a row lock. Existing holds are carried over; the
database then refuses a hold beyond the balance as it refuses a negative balance."""

from django.db import migrations, models
from django.db.models import Sum

IN_FLIGHT = ["pending", "unknown"]


def held_from_operations(apps, schema_editor):
    alias = schema_editor.connection.alias
    Account = apps.get_model("billing", "Account")
    Operation = apps.get_model("members", "Operation")
    held = (
        Operation.objects.using(alias)
        .filter(status__in=IN_FLIGHT)
        .aggregate(s=Sum("hold"))["s"]
        or 0
    )
    Account.objects.using(alias).filter(kind="wallet").update(held=held)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0001_initial"),
        ("members", "0014_plan_tier"),
    ]

    operations = [
        migrations.AddField(
            model_name="account",
            name="held",
            field=models.BigIntegerField(default=0),
        ),
        migrations.RunPython(held_from_operations, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="account",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("held", 0),
                    models.Q(("held__gt", 0), ("balance__gte", models.F("held"))),
                    _connector="OR",
                ),
                name="wallet_holds_covered",
            ),
        ),
    ]
