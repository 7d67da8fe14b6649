"""The scheduler's and reconciliation's models now live in `renewals` (renewals 0001 took
them over, tables and all).

State only: the tables and their rows stay as they are. No members model has a foreign
key to a moved model, so nothing here needs re-pointing.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0012_notifications_moved_out"),
        ("renewals", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="TermAction"),
                migrations.DeleteModel(name="ReconciliationRun"),
            ],
        ),
    ]
