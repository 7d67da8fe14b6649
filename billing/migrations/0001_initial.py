"""The ledger's models move here from `members`, tables and all left where they are.

State only: the tables keep their `members_*` names (the PostgreSQL triggers of members
migration 0002 are written against them), so nothing in the database changes except the
content types, relabelled so admin history and permissions follow the models.
members 0011 then drops the models from members' state.
"""

import django.db.models.deletion
from django.db import migrations, models

from members.moved_models import content_types_moved

MOVED = [
    "account",
    "ledgertransaction",
    "ledgerentry",
    "creditlot",
    "cashrefund",
    "lotrefund",
]


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("members", "0010_usage_account_streams"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Account",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("code", models.CharField(max_length=120, unique=True)),
                        ("kind", models.CharField(choices=[("wallet", "organization wallet"), ("member", "member terms"), ("purchases", "credit purchases"), ("refunds", "cash refunds"), ("adjustments", "manual adjustments")], max_length=12)),
                        ("balance", models.BigIntegerField(default=0)),
                        ("member", models.OneToOneField(null=True, on_delete=django.db.models.deletion.PROTECT, related_name="account", to="members.member")),
                    ],
                    options={
                        "db_table": "members_account",
                        "constraints": [models.CheckConstraint(condition=models.Q(models.Q(("kind", "wallet"), _negated=True), ("balance__gte", 0), _connector="OR"), name="wallet_never_negative")],
                    },
                ),
                migrations.CreateModel(
                    name="LedgerTransaction",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("kind", models.CharField(choices=[("purchase", "Purchase"), ("member_create", "Member Create"), ("member_change", "Member Change"), ("member_renew", "Member Renew"), ("member_cancel", "Member Cancel"), ("member_delete", "Member Delete"), ("refund", "Refund"), ("adjustment", "Adjustment"), ("reversal", "Reversal")], max_length=16)),
                        ("memo", models.CharField(max_length=300)),
                        ("actor", models.CharField(max_length=150)),
                        ("created_at", models.DateTimeField()),
                        ("member", models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name="ledger_transactions", to="members.member")),
                        ("operation", models.OneToOneField(null=True, on_delete=django.db.models.deletion.PROTECT, related_name="ledger_transaction", to="members.operation")),
                        ("reverses", models.OneToOneField(null=True, on_delete=django.db.models.deletion.PROTECT, related_name="reversed_by", to="billing.ledgertransaction")),
                    ],
                    options={
                        "db_table": "members_ledgertransaction",
                        "ordering": ["-id"],
                        "indexes": [
                            models.Index(fields=["kind", "id"], name="members_led_kind_65d11d_idx"),
                            models.Index(fields=["member", "id"], name="members_led_member__7ae1e8_idx"),
                            models.Index(fields=["created_at"], name="members_led_created_0f48cc_idx"),
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="LedgerEntry",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("amount", models.BigIntegerField(help_text="hundredths of a credit; signed, never zero")),
                        ("account", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="entries", to="billing.account")),
                        ("transaction", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="entries", to="billing.ledgertransaction")),
                    ],
                    options={
                        "db_table": "members_ledgerentry",
                        "ordering": ["id"],
                        "indexes": [models.Index(fields=["account", "id"], name="members_led_account_37f175_idx")],
                        "constraints": [models.CheckConstraint(condition=models.Q(("amount", 0), _negated=True), name="entry_nonzero")],
                    },
                ),
                migrations.CreateModel(
                    name="CreditLot",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("credits", models.PositiveIntegerField(help_text="whole credits bought")),
                        ("unit_price_cents", models.PositiveIntegerField()),
                        ("total_cents", models.BigIntegerField()),
                        ("created_at", models.DateTimeField()),
                        ("transaction", models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name="lot", to="billing.ledgertransaction")),
                    ],
                    options={
                        "db_table": "members_creditlot",
                        "ordering": ["id"],
                    },
                ),
                migrations.CreateModel(
                    name="CashRefund",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("amount", models.BigIntegerField(help_text="hundredths of a credit refunded")),
                        ("gross_cents", models.BigIntegerField(help_text="what the refunded credits cost")),
                        ("fee_cents", models.BigIntegerField()),
                        ("net_cents", models.BigIntegerField(help_text="paid out: gross minus the fee")),
                        ("created_at", models.DateTimeField()),
                        ("transaction", models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name="cash_refund", to="billing.ledgertransaction")),
                    ],
                    options={
                        "db_table": "members_cashrefund",
                    },
                ),
                migrations.CreateModel(
                    name="LotRefund",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("amount", models.BigIntegerField(help_text="hundredths of a credit taken from the lot")),
                        ("lot", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="refunds", to="billing.creditlot")),
                        ("refund", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="slices", to="billing.cashrefund")),
                    ],
                    options={
                        "db_table": "members_lotrefund",
                    },
                ),
            ],
        ),
        content_types_moved(MOVED, to="billing"),
    ]
