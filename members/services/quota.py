"""The monthly quota: clearing the `quota_exceeded` flag when a month starts, and the
`member.quota_exceeded` notification, once per member per month.

What the gate counts needs no reset: the gateway's counters are keyed by calendar month
(`marketdata.limits.month_key`, "YYYYMM", UTC). In Redis the key is
`<prefix>:quota:<member>:<YYYYMM>` and expires 40 days after its first request; the
embedded MemoryLimiter keys its counts by (member, month) the same way. The first
request of a new month therefore counts from zero by itself. What is left is the flag on the member row
(shown in the portal and the API): "the gateway refused this member for quota this
month". This module owns it: `quota_flag` raises it when a gateway refuses,
`quota_reset` clears it as a month starts; nothing else writes it.

Whether a flag belongs to the current month is decided from the month's own evidence,
never from the flag alone (a flag raised on the 31st is still set on the 1st until the
reset has run): the gateway refused the member for quota this month (its
QUOTA_EXCEEDED refusals are metered per day), or the requests counted this month reach
the member's quota. That makes the reset idempotent at any time (a member who used up
a small quota in the first minutes of the month keeps the flag however often it runs),
and keeps a stale flag from sending, and so using up, the new month's notification.
"""

import datetime as dt
from collections.abc import Iterable

from django.db import transaction
from django.db.models import BigIntegerField, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce

from members.models import Member, UsageDay
from members.selectors import member_limits
from members.services import cache_events
from members.services.audit import audit_record
from members.services.usage import month_after, month_start
from notifications.models import Notification
from notifications.services.notify import member_snapshot, notify
from orgportal import clock

ACTOR = "system:quota"
GATEWAY_ACTOR = "system:gateway"
BATCH = 500
# The code the market data gateway meters a quota refusal under.
QUOTA_REFUSAL = "QUOTA_EXCEEDED"
EVENT = Notification.Event.QUOTA_EXCEEDED.value


def _month_label(first: dt.date) -> str:
    return f"{first:%Y-%m}"


def _usage(member_ids: Iterable[int], first: dt.date) -> dict[int, tuple[int, int]]:
    """member id → (requests counted, quota refusals) in the month starting `first`."""
    rows = (
        UsageDay.objects.filter(
            member_id__in=list(member_ids),
            day__gte=first,
            day__lt=month_after(first),
        )
        .values("member_id")
        .annotate(
            used=Sum("requests"),
            refusals=Sum(
                Coalesce(
                    Cast(KT(f"refused__{QUOTA_REFUSAL}"), BigIntegerField()),
                    0,
                    output_field=BigIntegerField(),
                )
            ),
        )
        .order_by()
    )
    return {r["member_id"]: (r["used"] or 0, r["refusals"] or 0) for r in rows}


def _exceeded(member: Member, usage: tuple[int, int]) -> bool:
    used, refusals = usage
    quota = member_limits(member)["quota"]
    return refusals > 0 or (quota > 0 and used >= quota)


def _flagged_batches():
    """Flagged live members, BATCH at a time, by id (never all loaded at once)."""
    last = 0
    while True:
        batch = list(
            Member.objects.filter(quota_exceeded=True, id__gt=last)
            .exclude(status=Member.Status.DELETED)
            .select_related("plan")
            .defer("upstream_key_encrypted")
            .order_by("id")[:BATCH]
        )
        if not batch:
            return
        yield batch
        last = batch[-1].pk


def quota_flag(*, member_id: int, month: str) -> bool:
    """Raise the member's `quota_exceeded` flag: a gateway refused them for quota in
    `month` ("YYYY-MM"). Audited and published to every gateway once, when the flag
    goes up; True then, False if it was already up (or the member is gone)."""
    with transaction.atomic():
        member = (
            Member.objects.select_for_update(of=("self",))
            .filter(pk=member_id, quota_exceeded=False)
            .only("id", "uid")
            .first()
        )
        if member is None:
            return False
        Member.objects.filter(pk=member_id).update(
            quota_exceeded=True, updated_at=clock.now()
        )
        audit_record(
            actor=GATEWAY_ACTOR,
            action="member.quota_exceeded",
            obj=("member", member.uid),
            before={"quota_exceeded": False},
            after={"quota_exceeded": True, "month": month},
        )
        transaction.on_commit(lambda: cache_events.member_changed(member_id))
    return True


def quota_reset(*, at: dt.datetime | None = None) -> int:
    """Clear `quota_exceeded` on members with no sign of exceeding in the month of `at`
    (default now); beat runs it as each month starts. Each cleared member's gateways
    reload it. Returns how many were cleared; a second run clears none."""
    at = at or clock.now()
    first = month_start(at.astimezone(dt.UTC).date())
    cleared = 0
    for batch in _flagged_batches():
        usage = _usage((m.pk for m in batch), first)
        stale = [m for m in batch if not _exceeded(m, usage.get(m.pk, (0, 0)))]
        if not stale:
            continue
        with transaction.atomic():
            # Only rows still flagged: one flagged again meanwhile by a gateway is
            # re-checked on the next run rather than cleared blind.
            ids = list(
                Member.objects.select_for_update()
                .filter(pk__in=[m.pk for m in stale], quota_exceeded=True)
                .order_by("id")
                .values_list("id", flat=True)
            )
            Member.objects.filter(pk__in=ids).update(
                quota_exceeded=False, updated_at=clock.now()
            )
            for member in stale:
                if member.pk not in ids:
                    continue
                audit_record(
                    actor=ACTOR,
                    action="member.quota_reset",
                    obj=("member", member.uid),
                    before={"quota_exceeded": True},
                    after={"quota_exceeded": False, "month": _month_label(first)},
                )
            for member_id in ids:
                transaction.on_commit(
                    lambda member_id=member_id: cache_events.member_changed(member_id)
                )
        cleared += len(ids)
    return cleared


def quota_exceeded_notify(*, at: dt.datetime | None = None) -> int:
    """Record `member.quota_exceeded` once per member per month for each member over its
    quota this month. Returns how many notifications were recorded by this run."""
    at = at or clock.now()
    first = month_start(at.astimezone(dt.UTC).date())
    label = _month_label(first)
    recorded = 0
    for batch in _flagged_batches():
        keys = {m.pk: f"{EVENT}:{m.pk}:{label}" for m in batch}
        done = set(
            Notification.objects.filter(dedupe_key__in=keys.values()).values_list(
                "dedupe_key", flat=True
            )
        )
        todo = [m for m in batch if keys[m.pk] not in done]
        if not todo:
            continue
        usage = _usage((m.pk for m in todo), first)
        for member in todo:
            member_usage = usage.get(member.pk, (0, 0))
            if not _exceeded(member, member_usage):
                continue  # last month's flag, not yet reset
            notification = notify(
                event=EVENT,
                dedupe_key=keys[member.pk],
                member=member,
                data={
                    "member": member_snapshot(member),
                    "quota": member_limits(member)["quota"],
                    "used": member_usage[0],
                    "month": label,
                },
            )
            if notification is not None:
                recorded += 1
    return recorded
