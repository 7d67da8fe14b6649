"""The groundwork of scheduled member work: claiming one action of one term (a
TermAction row) under the member's row lock, and the scans for what is due.

Exactly once. Every action belongs to one member's term and is claimed by inserting a
TermAction row (member, kind, term_end, days_before) under the member's row lock; the
unique constraint lets one claimer through however often beat fires and however many
workers race. Its side effects (the notification, the status change) commit in the same
transaction as the claim, so a worker that dies before commit leaves nothing claimed and
the next run does it.
"""

import datetime as dt

from django.db import IntegrityError, transaction

from members import selectors
from members.models import Member
from members.services.operations.state import member_lock
from renewals.models import TermAction

ACTOR = "system:scheduler"
# A claimed renewal whose worker went silent this long may be taken over. Longer than
# one upstream call with its retries, so a slow worker is not overtaken mid-call.
CLAIM_LEASE = dt.timedelta(minutes=10)


def renew_key(member_id: int, term_end: dt.datetime) -> str:
    return f"auto-renew:{member_id}:{int(term_end.timestamp())}"


def member_locked(member_id: int) -> Member | None:
    """The member's row, locked for this transaction: every scheduled action on one
    member queues behind this lock."""
    return member_lock("pk", member_id)


def action_claim(
    member: Member,
    kind: str,
    term_end: dt.datetime,
    at: dt.datetime,
    days: int = 0,
    *,
    done: bool = False,
) -> TermAction | None:
    """Insert the claim row; None when this action of this term is already taken.
    `done`: the action completes in the caller's transaction (reminder, expiry)."""
    try:
        with transaction.atomic():
            return TermAction.objects.create(
                member=member,
                kind=kind,
                term_end=term_end,
                days_before=days,
                status=TermAction.Status.DONE if done else TermAction.Status.CLAIMED,
                attempts=1,
                claimed_at=at,
                done_at=at if done else None,
                created_at=at,
            )
    except IntegrityError:
        return None


# --- the due scans: each an index range over due rows only -------------------------------


def reminders_due_ids(*, at: dt.datetime, limit: int = 10_000) -> list[int]:
    return list(
        Member.objects.filter(next_reminder_at__lte=at, status=Member.Status.ACTIVE)
        .order_by("next_reminder_at", "id")
        .values_list("id", flat=True)[:limit]
    )


def renewals_due_ids(
    *, at: dt.datetime, lead: dt.timedelta, limit: int = 10_000
) -> list[int]:
    return list(
        selectors.members_renewing(within=lead, at=at)
        .order_by("term_end", "id")
        .values_list("id", flat=True)[:limit]
    )


def expiries_due_ids(*, at: dt.datetime, limit: int = 10_000) -> list[int]:
    return list(
        Member.objects.filter(status=Member.Status.ACTIVE, term_end__lte=at)
        .order_by("term_end", "id")
        .values_list("id", flat=True)[:limit]
    )
