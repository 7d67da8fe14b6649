"""The scheduler's and reconciliation's models move here from `members`, tables and all
left where they are.

State only: the tables keep their `members_*` names, so nothing in the database changes
except the content types, relabelled so admin history and permissions follow the models.
members 0013 then drops the models from members' state.
"""

import django.db.models.deletion
from django.db import migrations, models

from members.moved_models import content_types_moved

MOVED = ["termaction", "reconciliationrun"]


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("members", "0012_notifications_moved_out"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ReconciliationRun",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("started_at", models.DateTimeField()),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        ("checked", models.PositiveIntegerField(default=0)),
                        ("repaired", models.JSONField(blank=True, default=list)),
                        ("reported", models.JSONField(blank=True, default=list)),
                        ("error", models.CharField(blank=True, max_length=500)),
                    ],
                    options={
                        "db_table": "members_reconciliationrun",
                        "ordering": ["-started_at", "-id"],
                    },
                ),
                migrations.CreateModel(
                    name="TermAction",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("kind", models.CharField(choices=[("reminder", "Reminder"), ("renew", "Renew"), ("expire", "Expire")], max_length=10)),
                        ("term_end", models.DateTimeField(help_text="the term this action belongs to")),
                        ("days_before", models.PositiveSmallIntegerField(default=0, help_text="reminders: which one (7, 3, 1); 0 for the others")),
                        ("status", models.CharField(choices=[("claimed", "claimed (in progress)"), ("done", "Done"), ("waiting_credits", "waiting for credits"), ("skipped", "Skipped"), ("failed", "Failed")], max_length=16)),
                        ("attempts", models.PositiveIntegerField(default=0)),
                        ("detail", models.JSONField(blank=True, default=dict)),
                        ("claimed_at", models.DateTimeField()),
                        ("done_at", models.DateTimeField(blank=True, null=True)),
                        ("created_at", models.DateTimeField()),
                        ("member", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="term_actions", to="members.member")),
                        ("operation", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="members.operation")),
                    ],
                    options={
                        "db_table": "members_termaction",
                        "ordering": ["-created_at", "-id"],
                        "indexes": [models.Index(fields=["status", "kind"], name="members_ter_status_b91d57_idx")],
                        "constraints": [models.UniqueConstraint(fields=("member", "kind", "term_end", "days_before"), name="term_action_once_per_term")],
                    },
                ),
            ],
        ),
        content_types_moved(MOVED, to="renewals"),
    ]
