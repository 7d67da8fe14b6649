"""Idempotency keys: a claim with a lease, bound to its operation, and the whole response
kept encrypted (it may hold a full gateway key)."""

import datetime as dt
import json

from django.db import migrations, models


def encrypt_stored_responses(apps, schema_editor):
    from members.crypto import encrypt

    Record = apps.get_model("members", "IdempotencyRecord")
    for record in Record.objects.exclude(response_body=None).iterator():
        record.response_encrypted = encrypt(json.dumps(record.response_body))
        record.save(update_fields=["response_encrypted"])
    # Claims left in progress by a process that died before this release had no lease:
    # give them an expired one so the next retry of their key can take them over.
    for record in Record.objects.filter(status="in_progress", lease_until=None):
        record.lease_until = record.created_at + dt.timedelta(seconds=60)
        record.save(update_fields=["lease_until"])


def decrypt_stored_responses(apps, schema_editor):
    from members.crypto import decrypt

    Record = apps.get_model("members", "IdempotencyRecord")
    for record in Record.objects.exclude(response_encrypted="").iterator():
        record.response_body = json.loads(decrypt(record.response_encrypted))
        record.save(update_fields=["response_body"])


class Migration(migrations.Migration):
    dependencies = [("members", "0005_member_next_reminder")]

    operations = [
        migrations.AddField(
            model_name="idempotencyrecord",
            name="claim",
            field=models.CharField(
                blank=True,
                help_text="the request holding the key; a takeover after the lease "
                "changes it",
                max_length=32,
            ),
        ),
        migrations.AddField(
            model_name="idempotencyrecord",
            name="lease_until",
            field=models.DateTimeField(
                help_text="until then no other request may take over a claim not yet "
                "bound to an operation",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="idempotencyrecord",
            name="response_encrypted",
            field=models.TextField(
                blank=True,
                help_text="Fernet token of the whole JSON response; never logged",
            ),
        ),
        migrations.AddField(
            model_name="idempotencyrecord",
            name="issued_key_encrypted",
            field=models.TextField(
                blank=True,
                help_text="Fernet token of a gateway key the bound operation issued, "
                "so a replay after a lost response can still show it",
            ),
        ),
        migrations.RunPython(encrypt_stored_responses, decrypt_stored_responses),
        migrations.RemoveField(model_name="idempotencyrecord", name="response_body"),
    ]
