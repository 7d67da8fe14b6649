"""Notifications' models now live in `notifications` (notifications 0001 took them over,
tables and all).

State only: the tables and their rows stay as they are. No members model has a foreign
key to a moved model, so nothing here needs re-pointing.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0011_ledger_moved_to_billing"),
        ("notifications", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # Referencing models first, so no model left in state points at a removed one.
            state_operations=[
                migrations.DeleteModel(name="DeliveryAttempt"),
                migrations.DeleteModel(name="Delivery"),
                migrations.DeleteModel(name="WebhookEndpoint"),
                migrations.DeleteModel(name="Notification"),
            ],
        ),
    ]
