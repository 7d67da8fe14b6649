"""The ledger's models now live in `billing` (billing 0001 took them over, tables and all).

State only: the tables, their rows and the triggers of 0002 stay as they are. No members
model has a foreign key to a moved model, so nothing here needs re-pointing.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0010_usage_account_streams"),
        ("billing", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # Referencing models first, so no model left in state points at a removed one.
            state_operations=[
                migrations.DeleteModel(name="LotRefund"),
                migrations.DeleteModel(name="CashRefund"),
                migrations.DeleteModel(name="CreditLot"),
                migrations.DeleteModel(name="LedgerEntry"),
                migrations.DeleteModel(name="LedgerTransaction"),
                migrations.DeleteModel(name="Account"),
            ],
        ),
    ]
