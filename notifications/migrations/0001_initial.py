"""Notifications' models move here from `members`, tables and all left where they are.

State only: the tables keep their `members_*` names, so nothing in the database changes
except the content types, relabelled so admin history and permissions follow the models.
members 0012 then drops the models from members' state.
"""

import django.db.models.deletion
from django.db import migrations, models

from members.moved_models import content_types_moved

MOVED = ["notification", "webhookendpoint", "delivery", "deliveryattempt"]


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("members", "0011_ledger_moved_to_billing"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Delivery",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("channel", models.CharField(choices=[("email", "Email"), ("webhook", "Webhook")], max_length=8)),
                        ("destination", models.CharField(help_text="URL or addresses at the time of sending", max_length=1000)),
                        ("status", models.CharField(choices=[("pending", "Pending"), ("delivered", "Delivered"), ("failed", "failed (will retry)"), ("dead", "gave up")], max_length=10)),
                        ("attempts", models.PositiveIntegerField(default=0)),
                        ("next_attempt_at", models.DateTimeField(blank=True, null=True)),
                        ("last_status_code", models.PositiveSmallIntegerField(blank=True, null=True)),
                        ("last_error", models.CharField(blank=True, max_length=500)),
                        ("delivered_at", models.DateTimeField(blank=True, null=True)),
                        ("created_at", models.DateTimeField()),
                    ],
                    options={
                        "db_table": "members_delivery",
                        "ordering": ["-created_at", "-id"],
                    },
                ),
                migrations.CreateModel(
                    name="WebhookEndpoint",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("url", models.URLField(max_length=500)),
                        ("description", models.CharField(blank=True, max_length=200)),
                        ("secret_encrypted", models.TextField(help_text="Fernet token of the signing secret")),
                        ("events", models.JSONField(blank=True, default=list, help_text="event names to send; empty = all")),
                        ("active", models.BooleanField(default=True)),
                        ("created_at", models.DateTimeField()),
                        ("updated_at", models.DateTimeField()),
                    ],
                    options={
                        "db_table": "members_webhookendpoint",
                        "ordering": ["id"],
                    },
                ),
                migrations.CreateModel(
                    name="DeliveryAttempt",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("number", models.PositiveIntegerField()),
                        ("manual", models.BooleanField(default=False, help_text="a redelivery asked for")),
                        ("ok", models.BooleanField()),
                        ("status_code", models.PositiveSmallIntegerField(blank=True, null=True)),
                        ("error", models.CharField(blank=True, max_length=500)),
                        ("duration_ms", models.PositiveIntegerField(default=0)),
                        ("started_at", models.DateTimeField()),
                        ("delivery", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="attempt_log", to="notifications.delivery")),
                    ],
                    options={
                        "db_table": "members_deliveryattempt",
                        "ordering": ["-started_at", "-id"],
                    },
                ),
                migrations.CreateModel(
                    name="Notification",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("event", models.CharField(choices=[("member.renewal_due", "Renewal Due"), ("member.renewed", "Renewed"), ("member.renewal_failed", "Renewal Failed"), ("member.expired", "Expired"), ("org.low_balance", "Low Balance"), ("member.quota_exceeded", "Quota Exceeded")], max_length=40)),
                        ("dedupe_key", models.CharField(max_length=200, unique=True)),
                        ("payload", models.JSONField(help_text="the webhook body's `data`")),
                        ("created_at", models.DateTimeField()),
                        ("member", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="notifications", to="members.member")),
                    ],
                    options={
                        "db_table": "members_notification",
                        "ordering": ["-created_at", "-id"],
                    },
                ),
                migrations.AddField(
                    model_name="delivery",
                    name="notification",
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="deliveries", to="notifications.notification"),
                ),
                migrations.AddField(
                    model_name="delivery",
                    name="endpoint",
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="deliveries", to="notifications.webhookendpoint"),
                ),
                migrations.AddIndex(
                    model_name="notification",
                    index=models.Index(fields=["event", "created_at"], name="members_not_event_13c365_idx"),
                ),
                migrations.AddIndex(
                    model_name="delivery",
                    index=models.Index(fields=["status", "next_attempt_at"], name="members_del_status_b4dbf1_idx"),
                ),
                migrations.AddConstraint(
                    model_name="delivery",
                    constraint=models.UniqueConstraint(condition=models.Q(("channel", "webhook")), fields=("notification", "endpoint"), name="delivery_once_per_endpoint"),
                ),
                migrations.AddConstraint(
                    model_name="delivery",
                    constraint=models.UniqueConstraint(condition=models.Q(("channel", "email")), fields=("notification",), name="delivery_email_once"),
                ),
            ],
        ),
        content_types_moved(MOVED, to="notifications"),
    ]
