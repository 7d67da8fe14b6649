"""Expiry at a term's end."""

import datetime as dt

from django.db import transaction

from members.models import Member, Operation
from members.services import cache_events
from members.services.audit import audit_record
from notifications.models import Notification
from notifications.services.notify import member_snapshot, notify
from orgportal import clock
from renewals.models import TermAction
from renewals.services.term_actions import ACTOR, action_claim, member_locked


def member_expire(*, member_id: int, at: dt.datetime | None = None) -> bool:
    """Mark a member whose term has ended as expired, once. Gateways refuse it from the
    instant the term ends whether or not this has run; this makes it visible everywhere
    and tells the operator."""
    at = at or clock.now()
    with transaction.atomic():
        member = member_locked(member_id)
        if (
            member is None
            or member.status != Member.Status.ACTIVE
            or member.term_end > at
        ):
            return False
        if Operation.objects.filter(
            member_uid=member.uid, status__in=Operation.IN_FLIGHT
        ).exists():
            # A change or renewal is being decided; it may move the term. Next run.
            return False
        if (
            action_claim(member, TermAction.Kind.EXPIRE, member.term_end, at, done=True)
            is None
        ):
            return False
        before = {"status": member.status}
        member.status = Member.Status.EXPIRED
        member.next_reminder_at = None
        member.updated_at = at
        member.save(update_fields=["status", "next_reminder_at", "updated_at"])
        # A renewal still waiting for credits has run out of time.
        TermAction.objects.filter(
            member=member, kind=TermAction.Kind.RENEW, term_end=member.term_end
        ).exclude(status=TermAction.Status.DONE).update(
            status=TermAction.Status.SKIPPED, done_at=at
        )
        audit_record(
            actor=ACTOR,
            action="member.expire",
            obj=("member", member.uid),
            before=before,
            after={
                "status": member.status,
                "term_end": clock.iso_exact(member.term_end),
            },
        )
        notify(
            event=Notification.Event.EXPIRED,
            dedupe_key=f"member.expired:{member.pk}:{clock.iso_exact(member.term_end)}",
            member=member,
            data={"member": member_snapshot(member), "expired_at": member.term_end},
        )

        member_pk = member.pk
        transaction.on_commit(lambda: cache_events.member_changed(member_pk))
    return True
