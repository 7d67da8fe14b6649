"""What the scheduled work on members' terms did: one row per reminder, renewal and
expiry of a term, and one per comparison with upstream.

The tables keep the `members_*` names they were created with (see migration 0001).
"""

from django.db import models

from members.models import Member, NewestFirst, Operation, protected_fk


class TermAction(NewestFirst):
    """One scheduled thing done for one member's term: a reminder, an auto-renewal or the
    expiry. The unique constraint is what makes each happen at most once per term, however
    often beat fires and however many workers race for it."""

    class Kind(models.TextChoices):
        REMINDER = "reminder"
        RENEW = "renew"
        EXPIRE = "expire"

    class Status(models.TextChoices):
        CLAIMED = "claimed", "claimed (in progress)"
        DONE = "done"
        WAITING_CREDITS = "waiting_credits", "waiting for credits"
        SKIPPED = "skipped"
        FAILED = "failed"

    member = protected_fk(Member, "term_actions")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    term_end = models.DateTimeField(help_text="the term this action belongs to")
    days_before = models.PositiveSmallIntegerField(
        default=0, help_text="reminders: which one (7, 3, 1); 0 for the others"
    )
    status = models.CharField(max_length=16, choices=Status.choices)
    operation = protected_fk(Operation, "+", null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    detail = models.JSONField(default=dict, blank=True)
    claimed_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta(NewestFirst.Meta):
        db_table = "members_termaction"
        constraints = [
            models.UniqueConstraint(
                fields=["member", "kind", "term_end", "days_before"],
                name="term_action_once_per_term",
            )
        ]
        indexes = [models.Index(fields=["status", "kind"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.member_id} {self.term_end:%Y-%m-%d} ({self.status})"


class ReconciliationRun(models.Model):
    """What one comparison with upstream found: repairs made and what needs a person."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    checked = models.PositiveIntegerField(default=0)
    repaired = models.JSONField(default=list, blank=True)
    reported = models.JSONField(default=list, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        db_table = "members_reconciliationrun"
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"reconciliation {self.started_at:%Y-%m-%d %H:%M}"
