"""Writes of brokerage links: link or replace, unlink, refresh.

Every change writes an audit row (never a token) in its transaction and, once that
commits, tells every process the member changed (members.services.cache_events), so the
account stream gateways re-check the member: an unlinked account's streams close within
seconds, a refreshed token is picked up.

Refreshing holds no transaction across the Aries call. Refresh tokens rotate, so a
refresh first claims the link with a conditional UPDATE (one claimant at a time, a lease
that outlasts the call), then calls Aries, then stores the new pair only if the link
still holds the refresh token it spent: a link replaced or removed meanwhile keeps what
it got.
"""

import datetime as dt
import enum
import logging
import time
import uuid
from collections import Counter

from django.db import transaction
from django.db.models import Q

from brokerage import rules, selectors, upstream
from brokerage.models import BrokerageLink
from members.crypto import decrypt, encrypt
from members.errors import ValidationFailed
from members.models import Member
from members.services import cache_events
from members.services.audit import audit_record
from orgportal import clock
from orgportal.upstream_http import call_deadline_s

log = logging.getLogger(__name__)

ACTOR = "system:brokerage"
FAILURE_MAX_CHARS = 300


class RefreshOutcome(enum.StrEnum):
    REFRESHED = "refreshed"
    NOT_DUE = "not_due"  # the token is not within the refresh lead (already refreshed)
    BUSY = "busy"  # another process holds the refresh claim
    GONE = "gone"  # unlinked, replaced or member deleted before the pair was stored
    FAILED = "failed"  # invalid_grant now, or earlier: the link needs a new PUT
    UNAVAILABLE = "unavailable"  # Aries did not answer usefully; tried again later


def _changed(member_id: int) -> None:
    transaction.on_commit(lambda: cache_events.member_changed(member_id))


def _validated(
    *, access_token: object, refresh_token: object, account_ids: object
) -> dt.datetime:
    """The access token's expiry, once every input passes brokerage.rules."""
    problems = {
        field: [problem]
        for field, problem in (
            ("access_token", rules.access_token_problem(access_token)),
            ("refresh_token", rules.token_problem(refresh_token)),
            ("account_ids", rules.account_ids_problem(account_ids)),
        )
        if problem
    }
    if problems:
        field, (message,) = next(iter(problems.items()))
        raise ValidationFailed(f"{field}: {message}", details=problems)
    return rules.access_token_expiry(access_token)  # type: ignore[arg-type,return-value]


def _locked_member(member: Member) -> Member:
    """The member row locked (lock order: member, then its link), still live."""
    locked = Member.objects.select_for_update().get(pk=member.pk)
    if locked.status == Member.Status.DELETED:
        raise selectors.MemberDeleted(
            f"Member {member.uid!r} was deleted; a deleted member cannot be linked to "
            "a brokerage",
            details={"uid": member.uid},
        )
    return locked


# --- link, replace, unlink ---------------------------------------------------------------


def brokerage_link(
    *,
    uid: str,
    access_token: str,
    refresh_token: str,
    account_ids: list[str],
    actor: str,
) -> tuple[BrokerageLink, bool]:
    """Link the member to a brokerage user, or replace its link: (link, created).

    A replacement starts afresh: new tokens, no failure, and any refresh in flight for
    the old pair is disowned (it cannot store what it gets)."""
    expires_at = _validated(
        access_token=access_token, refresh_token=refresh_token, account_ids=account_ids
    )
    member = selectors.member_for_brokerage(uid)
    now = clock.now()
    with transaction.atomic():
        member = _locked_member(member)
        link = BrokerageLink.objects.select_for_update().filter(member=member).first()
        before = selectors.link_audit(link) if link else None
        created = link is None
        if created:
            link = BrokerageLink(member=member)
        link.account_ids = list(account_ids)
        link.access_token_encrypted = encrypt(access_token)
        link.refresh_token_encrypted = encrypt(refresh_token)
        link.expires_at = expires_at
        link.linked_at = now
        link.refreshed_at = None
        link.failed_at = None
        link.failure = ""
        link.failure_at = None
        link.refresh_claim = ""
        link.refresh_claimed_until = None
        link.updated_at = now
        link.save()
        audit_record(
            actor=actor,
            action="brokerage.link" if created else "brokerage.replace",
            obj=("member", member.uid),
            before=before,
            after=selectors.link_audit(link),
        )
        _changed(member.pk)
    link.member = member
    return link, created


def brokerage_unlink(*, uid: str, actor: str) -> Member:
    """Remove the member's link and its tokens. 404 BROKERAGE_NOT_LINKED without one."""
    member = selectors.member_for_brokerage(uid)
    with transaction.atomic():
        member = Member.objects.select_for_update().get(pk=member.pk)
        link = BrokerageLink.objects.select_for_update().filter(member=member).first()
        if link is None:
            raise selectors.NotLinked(
                f"Member {uid!r} has no brokerage link", details={"uid": member.uid}
            )
        _delete(link, member=member, actor=actor, action="brokerage.unlink")
    return member


def _delete(link: BrokerageLink, *, member: Member, actor: str, action: str) -> None:
    before = selectors.link_audit(link)
    link.delete()
    audit_record(actor=actor, action=action, obj=("member", member.uid), before=before)
    _changed(member.pk)


def brokerage_links_purge_deleted() -> int:
    """Drop the links (and tokens) of members deleted since they were linked."""
    purged = 0
    for link_id in selectors.links_of_deleted_members():
        with transaction.atomic():
            link = (
                BrokerageLink.objects.select_for_update()
                .select_related("member")
                .filter(pk=link_id, member__status=Member.Status.DELETED)
                .first()
            )
            if link is not None:
                _delete(link, member=link.member, actor=ACTOR, action="brokerage.purge")
                purged += 1
    return purged


# --- refresh -------------------------------------------------------------------------------


def brokerage_refresh(*, link_id: int, force: bool = False) -> RefreshOutcome:
    """Trade the link's refresh token for a new pair, if a refresh is due (`force`:
    whenever the link is healthy). Safe to run in several processes at once: one
    claims the refresh, the others answer BUSY or, once it is done, NOT_DUE, and the
    refresh token is sent at most once. Call it outside any transaction: it calls
    Aries, and its claim must be visible to other processes at once."""
    now = clock.now()
    claim = uuid.uuid4().hex
    due = Q() if force else Q(expires_at__lte=now + selectors.refresh_lead())
    # Only the link's own columns in the condition: PostgreSQL re-checks them on the
    # row a concurrent claimant just changed, so exactly one UPDATE matches.
    claimed = (
        BrokerageLink.objects.filter(due, pk=link_id, failed_at__isnull=True)
        .filter(
            Q(refresh_claimed_until__isnull=True) | Q(refresh_claimed_until__lte=now)
        )
        .update(
            refresh_claim=claim,
            refresh_claimed_until=now + dt.timedelta(seconds=call_deadline_s()),
        )
    )
    if not claimed:
        return _why_not_claimed(link_id, now=now, force=force)
    link = (
        BrokerageLink.objects.select_related("member")
        .filter(pk=link_id, refresh_claim=claim)
        .first()
    )
    if link is None:  # unlinked or replaced between the claim and this read
        return RefreshOutcome.GONE
    if link.member.status == Member.Status.DELETED:
        _release(link_id, claim)
        return RefreshOutcome.GONE
    spent = link.refresh_token_encrypted
    try:
        pair = upstream.shared_client().refresh(decrypt(spent))
    except upstream.AriesInvalidGrant as exc:
        return _store_failure(
            link, spent=spent, claim=claim, reason=exc.message, permanent=True
        )
    except upstream.AriesError as exc:
        return _store_failure(
            link, spent=spent, claim=claim, reason=exc.message, permanent=False
        )
    return _store_pair(link, spent=spent, pair=pair)


def _why_not_claimed(link_id: int, *, now: dt.datetime, force: bool) -> RefreshOutcome:
    link = BrokerageLink.objects.filter(pk=link_id).first()
    if link is None:
        return RefreshOutcome.GONE
    if link.failed_at is not None:
        return RefreshOutcome.FAILED
    # A forced claim on a healthy link fails only while another refresh holds it
    # (released by now, perhaps, but it was held when the UPDATE looked).
    if force or not rules.claim_free(claimed_until=link.refresh_claimed_until, now=now):
        return RefreshOutcome.BUSY
    return RefreshOutcome.NOT_DUE


def _release(link_id: int, claim: str) -> None:
    BrokerageLink.objects.filter(pk=link_id, refresh_claim=claim).update(
        refresh_claim="", refresh_claimed_until=None
    )


def _store_pair(
    link: BrokerageLink, *, spent: str, pair: upstream.TokenPair
) -> RefreshOutcome:
    now = clock.now()
    # The JWT's own exp is the truth the stream checks; expires_in covers a token that
    # does not carry one.
    expires_at = rules.access_token_expiry(pair.access_token) or now + dt.timedelta(
        seconds=pair.expires_in
    )
    with transaction.atomic():
        # Stored only while the link still holds the refresh token just spent: a link
        # replaced meanwhile keeps its new pair. Matching on the token rather than on
        # the claim also stores a pair whose claim outlived its lease.
        stored = BrokerageLink.objects.filter(
            pk=link.pk, refresh_token_encrypted=spent
        ).update(
            access_token_encrypted=encrypt(pair.access_token),
            refresh_token_encrypted=encrypt(pair.refresh_token),
            expires_at=expires_at,
            refreshed_at=now,
            failed_at=None,
            failure="",
            failure_at=None,
            refresh_claim="",
            refresh_claimed_until=None,
            updated_at=now,
        )
        if stored:
            _changed(link.member_id)
    if not stored:
        log.warning(
            "brokerage refresh discarded: the link changed while it ran",
            extra={"link_id": link.pk, "member_id": link.member_id},
        )
        return RefreshOutcome.GONE
    return RefreshOutcome.REFRESHED


def _store_failure(
    link: BrokerageLink, *, spent: str, claim: str, reason: str, permanent: bool
) -> RefreshOutcome:
    now = clock.now()
    reason = reason[:FAILURE_MAX_CHARS]
    changes = {"failure": reason, "failure_at": now, "updated_at": now}
    if permanent:
        changes["failed_at"] = now
    with transaction.atomic():
        recorded = BrokerageLink.objects.filter(
            pk=link.pk, refresh_token_encrypted=spent
        ).update(**changes)
        _release(link.pk, claim)
        if recorded:
            audit_record(
                actor=ACTOR,
                action="brokerage.refresh_failed",
                obj=("member", link.member.uid),
                before=selectors.link_audit(link),
                after={"reason": reason, "permanent": permanent},
            )
            _changed(link.member_id)
    log.warning(
        "brokerage refresh failed",
        extra={
            "link_id": link.pk,
            "member_id": link.member_id,
            "permanent": permanent,
            "reason": reason,
        },
    )
    if not recorded:
        return RefreshOutcome.GONE
    return RefreshOutcome.FAILED if permanent else RefreshOutcome.UNAVAILABLE


def brokerage_refresh_due(*, budget_s: float = 240.0) -> dict[str, int]:
    """The refresher's run: purge the links of deleted members, then refresh every link
    due, soonest expiry first, for at most `budget_s` seconds (the rest is still due on
    the next run). Counts by outcome."""
    counts: Counter[str] = Counter()
    counts["purged"] = brokerage_links_purge_deleted()
    started = time.monotonic()
    due = selectors.links_due()
    for n, link_id in enumerate(due):
        if time.monotonic() - started > budget_s:
            counts["left"] = len(due) - n
            break
        counts[brokerage_refresh(link_id=link_id).value] += 1
    return dict(counts)
