"""Reconciliation's first phase: page through upstream, comparing each batch with the
local rows of the same uids. Only the differences and the uids seen are kept, never the
members themselves; nothing is changed here (`reconcile` applies the findings).
"""

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from members.models import Member, Operation
from members.status import status_at
from members.uids import RULE as UID_RULE
from members.uids import uid_problem
from members.upstream import OrgClient, UpstreamError, UpstreamNotFound
from orgportal import clock

log = logging.getLogger(__name__)

BATCH_SIZE = 500  # upstream members compared per local query
LIMIT_FIELDS = (
    "rate_limit",
    "quota",
    "websocket_symbols",
    "websocket_connections",
    "newsfeed",
)
REPAIRED_FIELDS = (*LIMIT_FIELDS, "full_name")
# Upstream reports times to the millisecond; closer than this is the same instant.
TIME_TOLERANCE = dt.timedelta(seconds=1)
# Local members absent from a complete listing are each read back once (a listing is
# not a snapshot: a deletion meanwhile shifts later pages). Past this many, the
# listing itself is suspect and nothing is repaired.
MAX_MISSING_CONFIRMS = 200


@dataclasses.dataclass
class Repair:
    member_id: int
    uid: str
    # field -> (local value compared, upstream value)
    fields: dict[str, tuple[Any, Any]]
    expire: bool = False


@dataclasses.dataclass
class Findings:
    repairs: list[Repair] = dataclasses.field(default_factory=list)
    reported: list[dict] = dataclasses.field(default_factory=list)
    listed: int = 0  # members read from the upstream listing so far
    checked: int = 0
    skipped: int = 0  # members with an operation in flight
    # Operations as the pass began: the newest id, and the uids then in flight. Ids,
    # not times, so a frozen or skewed clock cannot hide an operation.
    op_watermark: int = 0
    busy_at_start: set[str] = dataclasses.field(default_factory=set)


def upstream_read(client: OrgClient, page_size: int, findings: Findings) -> None:
    seen: set[str] = set()
    batch: list[dict] = []
    for raw in client.members_iter(page_size=page_size):
        findings.listed += 1
        uid = raw.get("uid")
        if not isinstance(uid, str) or uid in seen:  # listed twice across a shift
            continue
        seen.add(uid)
        batch.append(raw)
        if len(batch) >= BATCH_SIZE:
            _compare_batch(batch, findings)
            batch = []
    _compare_batch(batch, findings)

    missing = [
        uid
        for uid in Member.objects.exclude(status=Member.Status.DELETED)
        .values_list("uid", flat=True)
        .iterator(chunk_size=2000)
        if uid not in seen
    ]
    if len(missing) > MAX_MISSING_CONFIRMS and len(missing) > len(seen):
        raise UpstreamError(
            f"upstream listed {len(seen)} members but {len(missing)} live members here "
            "are not among them; is UPSTREAM_ORG_URL / UPSTREAM_ORG_KEY the right "
            "organization?"
        )
    found: list[dict] = []
    gone: list[str] = []
    for uid in missing[:MAX_MISSING_CONFIRMS]:
        if uid_problem(uid):  # no path reaches it: reported with its uid below
            findings.reported.append(_uid_item(uid))
            continue
        try:
            found.append(client.member_get(uid=uid))
        except UpstreamNotFound:
            gone.append(uid)
    for start in range(0, len(found), BATCH_SIZE):
        _compare_batch(found[start : start + BATCH_SIZE], findings)
    _report_missing(gone, findings, confirmed=True)
    _report_missing(missing[MAX_MISSING_CONFIRMS:], findings, confirmed=False)


def _busy(uids: Iterable[str]) -> set[str]:
    return set(
        Operation.objects.filter(
            member_uid__in=list(uids), status__in=Operation.IN_FLIGHT
        ).values_list("member_uid", flat=True)
    )


def _live_members(uids: list[str]) -> dict[str, Member]:
    """The members here among `uids` that are not deleted, by uid."""
    return {
        m.uid: m
        for m in Member.objects.filter(uid__in=uids)
        .exclude(status=Member.Status.DELETED)
        .select_related("plan")
        .defer("upstream_key_encrypted")
    }


def _compare_batch(batch: list[dict], findings: Findings) -> None:
    if not batch:
        return
    uids = [raw["uid"] for raw in batch]
    local = _live_members(uids)
    busy = _busy(uids)
    at = clock.now()
    for raw in batch:
        findings.checked += 1
        uid = raw["uid"]
        if uid in busy:  # being resolved right now; it converges by itself
            findings.skipped += 1
            continue
        if uid_problem(uid):
            findings.reported.append(_uid_item(uid))
        member = local.get(uid)
        if member is None:
            findings.reported.append(
                report_item(
                    uid,
                    "member",
                    None,
                    _upstream_summary(raw),
                    why="exists upstream but not here: import it or delete it "
                    "upstream (its credits were never charged here)",
                )
            )
            continue
        _compare(member, raw, at, findings)


def _compare(member: Member, raw: dict, at: dt.datetime, findings: Findings) -> None:
    uid = member.uid
    fields: dict[str, tuple[Any, Any]] = {}
    for name in REPAIRED_FIELDS:
        if name not in raw:
            continue
        upstream = _normalise(name, raw[name])
        if upstream is None:
            continue
        local = getattr(member, name)
        if local != upstream:
            fields[name] = (local, upstream)

    expire = False
    upstream_status = raw.get("status")
    local_status = status_at(member.status, member.term_end, at)
    if upstream_status != local_status:
        findings.reported.append(
            report_item(
                uid,
                "status",
                local_status,
                upstream_status,
                why=_status_why(local_status, upstream_status),
            )
        )
    elif upstream_status == Member.Status.EXPIRED and member.status != upstream_status:
        # Both sides agree the term is over; only the stored status lags.
        expire = True

    upstream_plan = raw.get("plan")
    if upstream_plan != member.plan.name:
        findings.reported.append(
            report_item(
                uid,
                "plan",
                member.plan.name,
                upstream_plan,
                why="plan differs and no operation here explains it: the charge "
                "for the change was not posted; change the plan here or upstream",
            )
        )

    upstream_end = _parse_time(raw.get("plan_end_at"))
    if upstream_end is None or abs(upstream_end - member.term_end) >= TIME_TOLERANCE:
        findings.reported.append(
            report_item(
                uid,
                "term_end",
                clock.iso_exact(member.term_end),
                clock.iso_exact(upstream_end)
                if upstream_end
                else raw.get("plan_end_at"),
                why="term end differs and no operation here explains it: the paid "
                "time here does not match upstream's",
            )
        )

    if fields or expire:
        findings.repairs.append(
            Repair(member_id=member.pk, uid=uid, fields=fields, expire=expire)
        )


def _status_why(local: str, upstream: str | None) -> str:
    if upstream == Member.Status.EXPIRED and local == Member.Status.ACTIVE:
        return (
            "upstream expired it before its term here ends: unused paid time may be "
            "owed; renew it or settle the term by hand"
        )
    if upstream == Member.Status.ACTIVE:
        return (
            f"active upstream but {local} here: changed upstream outside orgportal, "
            "so no charge was posted for it"
        )
    return f"{upstream} upstream but {local} here: changed outside orgportal"


def _report_missing(uids: list[str], findings: Findings, *, confirmed: bool) -> None:
    for start in range(0, len(uids), BATCH_SIZE):
        chunk = uids[start : start + BATCH_SIZE]
        busy = _busy(chunk)
        local = _live_members(chunk)
        at = clock.now()
        for uid in chunk:
            findings.checked += 1
            member = local.get(uid)
            if uid in busy:
                findings.skipped += 1
                continue
            if member is None:  # deleted here meanwhile
                continue
            why = (
                "live here but upstream does not have it (deleted outside "
                "orgportal?): mark it deleted here and settle its unused time by hand"
            )
            if not confirmed:
                why += " (not read back one by one: too many were missing)"
            findings.reported.append(
                report_item(
                    uid,
                    "member",
                    {
                        "plan": member.plan.name,
                        "status": status_at(member.status, member.term_end, at),
                        "term_end": clock.iso_exact(member.term_end),
                    },
                    None,
                    why=why,
                )
            )


def report_item(
    uid: str,
    field: str,
    local: Any,
    upstream: Any,
    *,
    action: str | None = None,
    why: str | None = None,
) -> dict:
    item = {"uid": uid, "field": field, "local": local, "upstream": upstream}
    if action is not None:
        item["action"] = action
    if why is not None:
        item["why"] = why
    return item


def _uid_item(uid: str) -> dict:
    return report_item(
        uid,
        "uid",
        uid,
        None,
        why=f"{uid_problem(uid)}: no change can reach this member through a URL "
        f"path. Cancel or delete it upstream by other means, then here; new uids "
        f"must be {UID_RULE}",
    )


def _upstream_summary(raw: dict) -> dict:
    return {
        "plan": raw.get("plan"),
        "status": raw.get("status"),
        "plan_end_at": raw.get("plan_end_at"),
    }


def _normalise(name: str, value: Any) -> Any:
    """The upstream value as the local field holds it; None when it is unusable."""
    if name == "full_name":
        return value if isinstance(value, str) else ("" if value is None else None)
    if name == "newsfeed":
        return bool(value) if isinstance(value, bool | int) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
