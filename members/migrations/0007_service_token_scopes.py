"""Service tokens get scopes.

Tokens created before this migration could call every API operation, refunds and ledger
adjustments included; they get every scope (`admin` too) so a deployment keeps working
as it did. Operators should replace them with narrower tokens (the portal lists each
token's scopes). A token created afterwards gets exactly the scopes chosen for it.
"""

from django.db import migrations, models

# Frozen here: later changes to members.scopes must not change what this migration did.
LEGACY_SCOPES = ["read", "members", "credits", "admin"]


def existing_tokens_keep_every_scope(apps, schema_editor):
    ServiceToken = apps.get_model("members", "ServiceToken")
    # Every row here predates scopes: AddField has just given each an empty list.
    ServiceToken.objects.update(scopes=LEGACY_SCOPES)


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0006_idempotency_binding"),
    ]

    operations = [
        migrations.AddField(
            model_name="servicetoken",
            name="scopes",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="read, members, credits, admin (admin implies all)",
            ),
        ),
        migrations.RunPython(
            existing_tokens_keep_every_scope, migrations.RunPython.noop, elidable=True
        ),
    ]
