"""Reads of brokerage links: the member a request names, a link's token status and its
audit record (never with its tokens), the links due for a refresh, and the clear access
token for the account stream gateway."""

import datetime as dt

from django.conf import settings

from brokerage import rules
from brokerage.models import BrokerageLink
from members.crypto import decrypt
from members.errors import NotFound, ServiceError
from members.models import Member
from orgportal import clock


class MemberDeleted(ServiceError):
    status, code = 410, "MEMBER_DELETED"


class NotLinked(NotFound):
    code = "BROKERAGE_NOT_LINKED"


def member_for_brokerage(uid: str) -> Member:
    """The live member with `uid`. A uid whose member was deleted (and not created
    again) answers 410 MEMBER_DELETED: linking it would keep tokens for nobody."""
    member = (
        Member.objects.filter(uid=uid).exclude(status=Member.Status.DELETED).first()
    )
    if member is not None:
        return member
    if Member.objects.filter(uid=uid, status=Member.Status.DELETED).exists():
        raise MemberDeleted(
            f"Member {uid!r} was deleted; a deleted member cannot be linked to a "
            "brokerage",
            details={"uid": uid},
        )
    raise NotFound(
        f"No member with uid {uid!r}", code="MEMBER_NOT_FOUND", details={"uid": uid}
    )


def link_for_member(member: Member) -> BrokerageLink | None:
    return BrokerageLink.objects.filter(member=member).first()


def link_get(uid: str) -> BrokerageLink:
    member = member_for_brokerage(uid)
    link = link_for_member(member)
    if link is None:
        raise NotLinked(
            f"Member {uid!r} has no brokerage link", details={"uid": member.uid}
        )
    link.member = member
    return link


def expiring_window() -> dt.timedelta:
    return dt.timedelta(seconds=settings.BROKERAGE_EXPIRING_SECONDS)


def refresh_lead() -> dt.timedelta:
    return dt.timedelta(seconds=settings.BROKERAGE_REFRESH_LEAD_SECONDS)


def link_status(link: BrokerageLink, *, now: dt.datetime | None = None) -> str:
    return rules.token_status(
        expires_at=link.expires_at,
        failed_at=link.failed_at,
        now=now or clock.now(),
        expiring_window=expiring_window(),
    ).value


def link_audit(link: BrokerageLink) -> dict:
    """What an audit row keeps of a link: no token, not even a part of one."""
    return {
        "account_ids": list(link.account_ids),
        "expires_at": clock.iso(link.expires_at),
        "failed": link.failed_at is not None,
    }


def links_due(*, now: dt.datetime | None = None, limit: int = 1000) -> list[int]:
    """Ids of live members' links whose access token expires within the refresh lead
    (or has expired), soonest first, skipping refreshes already claimed."""
    now = now or clock.now()
    return list(
        BrokerageLink.objects.filter(
            failed_at__isnull=True, expires_at__lte=now + refresh_lead()
        )
        .exclude(member__status=Member.Status.DELETED)
        .exclude(refresh_claimed_until__gt=now)
        .order_by("expires_at", "id")
        .values_list("id", flat=True)[:limit]
    )


def links_of_deleted_members() -> list[int]:
    return list(
        BrokerageLink.objects.filter(member__status=Member.Status.DELETED).values_list(
            "id", flat=True
        )
    )


def link_credentials(member_id: int) -> tuple[str, list[str]] | None:
    """(access token in clear, account ids) of a live member's healthy link, or None.
    For the account stream gateway only; never log or return the token."""
    link = (
        BrokerageLink.objects.filter(member_id=member_id, failed_at__isnull=True)
        .exclude(member__status=Member.Status.DELETED)
        .first()
    )
    if link is None:
        return None
    return decrypt(link.access_token_encrypted), list(link.account_ids)
