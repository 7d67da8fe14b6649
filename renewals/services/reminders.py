"""Reminders before a term ends (`member.renewal_due`), and rescheduling them when
the organisation's reminder days change."""

import datetime as dt
import logging

from django.db import transaction
from django.db.models import F

from billing.money import format_amount
from members import schedule
from members.models import Member
from members.selectors import org_settings
from notifications.models import Notification
from notifications.services.notify import member_snapshot, notify
from orgportal import clock
from renewals.models import TermAction
from renewals.services.term_actions import action_claim, member_locked

log = logging.getLogger(__name__)


def member_remind(
    *,
    member_id: int,
    at: dt.datetime | None = None,
    reminder_days: list[int] | None = None,
) -> bool:
    """Send the reminder now due for the member's term, if not sent already. True if
    one was sent."""
    at = at or clock.now()
    days_setting = (
        org_settings().reminder_days if reminder_days is None else reminder_days
    )
    with transaction.atomic():
        member = member_locked(member_id)
        if member is None or member.status != Member.Status.ACTIVE:
            return False
        if member.next_reminder_at is None or member.next_reminder_at > at:
            return False  # rescheduled meanwhile
        days = schedule.reminder_due(member.term_end, days_setting, at)
        sent = False
        if days is not None:
            # A more urgent reminder of this term already out makes this one moot.
            already = TermAction.objects.filter(
                member=member,
                kind=TermAction.Kind.REMINDER,
                term_end=member.term_end,
                days_before__lte=days,
            ).exists()
            if not already and action_claim(
                member, TermAction.Kind.REMINDER, member.term_end, at, days, done=True
            ):
                notify(
                    event=Notification.Event.RENEWAL_DUE,
                    dedupe_key=(
                        f"member.renewal_due:{member.pk}:{clock.iso_exact(member.term_end)}:{days}"
                    ),
                    member=member,
                    data={
                        "member": member_snapshot(member),
                        "days_before": days,
                        "price": format_amount(member.plan.price),
                        "auto_renew": member.auto_renew,
                    },
                )
                sent = True
            member.next_reminder_at = schedule.reminder_after(
                member.term_end, days_setting, days
            )
        else:
            # Not yet due (settings changed) or the term is over: point at the next one.
            upcoming = [
                member.term_end - d * schedule.DAY
                for d in days_setting
                if d > 0 and member.term_end - d * schedule.DAY > at
            ]
            member.next_reminder_at = min(upcoming) if upcoming else None
        member.save(update_fields=["next_reminder_at"])
    return sent


def reminders_reschedule(*, actor: str) -> int:
    """After the reminder days change: point every active member at its first reminder
    under the new setting. A reminder whose time has passed is sent on the next run only
    if no more urgent one of the same term went out; none is sent twice."""
    days = [d for d in org_settings().reminder_days if d > 0]
    live = Member.objects.filter(status=Member.Status.ACTIVE)
    if days:
        count = live.update(next_reminder_at=F("term_end") - max(days) * schedule.DAY)
    else:
        count = live.update(next_reminder_at=None)
    log.info("reminders rescheduled", extra={"members": count, "actor": actor})
    return count
