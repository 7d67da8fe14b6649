"""Reads. No writes here; views and API views call these for lists and summaries."""

import datetime as dt
import re

from django.conf import settings
from django.db.models import Count, Q, Sum

from billing import pricing
from billing import selectors as wallet
from billing.models import Account, LedgerEntry, LedgerTransaction
from billing.money import format_amount
from members import caches, tiers
from members.errors import NotFound
from members.models import Member, OrgSettings, Plan, UsageDay
from orgportal import clock


def plans_available() -> list[Plan]:
    return list(Plan.objects.filter(available=True))


def member_overrides(member: Member) -> dict:
    """The limits an admin set on the member over its plan's (None: the plan's)."""
    return {
        "rate_limit": member.override_rate_limit,
        "quota": member.override_quota,
        "websocket_symbols": member.override_websocket_symbols,
        "websocket_connections": member.override_websocket_connections,
        "newsfeed": member.override_newsfeed,
    }


def member_limits(member: Member) -> dict:
    """What the member may use: upstream's limits, tightened by any override."""
    return {
        "rate_limit": tiers.effective_limit(
            upstream=member.rate_limit, override=member.override_rate_limit
        ),
        "quota": tiers.effective_limit(
            upstream=member.quota, override=member.override_quota
        ),
        "websocket_symbols": tiers.effective_limit(
            upstream=member.websocket_symbols,
            override=member.override_websocket_symbols,
        ),
        "websocket_connections": tiers.effective_limit(
            upstream=member.websocket_connections,
            override=member.override_websocket_connections,
        ),
        "newsfeed": member.newsfeed and member.override_newsfeed is not False,
    }


def members_page(
    *,
    page: int,
    limit: int,
    status: str | None = None,
    plan: str | None = None,
    search: str | None = None,
) -> tuple[list[Member], int]:
    qs = Member.objects.select_related("plan").exclude(status=Member.Status.DELETED)
    if status == Member.Status.DELETED:
        qs = Member.objects.select_related("plan").filter(status=Member.Status.DELETED)
    elif status:
        qs = qs.status_at(status, clock.now())
    if plan:
        qs = qs.filter(plan__name=plan)
    if search:
        qs = qs.filter(
            Q(uid__icontains=search)
            | Q(full_name__icontains=search)
            | Q(email__icontains=search)
        )
    total = qs.count()
    members = list(
        qs.order_by("upstream_created_at", "id").prefetch_related("gateway_keys")[
            (page - 1) * limit : page * limit
        ]
    )
    return members, total


def connection_minutes(seconds: int) -> float:
    """Whole seconds of WebSocket connection time as minutes with one decimal place,
    rounded half up (90 -> 1.5, 3 -> 0.1, 2 -> 0.0); exact, no float division."""
    return ((seconds * 10 + 30) // 60) / 10


def member_usage(*, member: Member, days: int) -> list[dict]:
    """One dict per day with traffic. `refused` holds REST and WebSocket refusals
    alike; the WebSocket gateway's codes start with WS_."""
    since = clock.now().date() - dt.timedelta(days=days - 1)
    return [
        {
            "day": row.day.isoformat(),
            "requests": row.requests,
            "bytes": row.bytes_out,
            "refused": row.refused,
            "upstream_ms_avg": round(row.upstream_ms_total / row.requests, 2)
            if row.requests
            else None,
            "ws_messages": row.ws_messages,
            "ws_bytes": row.ws_bytes,
            "ws_connection_minutes": connection_minutes(row.ws_connection_seconds),
            "account_events": row.account_events,
            "account_connection_minutes": connection_minutes(
                row.account_connection_seconds
            ),
        }
        for row in UsageDay.objects.filter(member=member, day__gte=since).order_by(
            "day"
        )
    ]


def member_usage_totals(days: list[dict]) -> dict:
    """The sums of `member_usage` days, each as the days show it (minutes are added
    in tenths so the total is exactly the sum of the daily figures)."""
    return {
        "requests": sum(d["requests"] for d in days),
        "bytes": sum(d["bytes"] for d in days),
        "ws_messages": sum(d["ws_messages"] for d in days),
        "ws_bytes": sum(d["ws_bytes"] for d in days),
        "ws_connection_minutes": sum(
            round(d["ws_connection_minutes"] * 10) for d in days
        )
        / 10,
        "account_events": sum(d["account_events"] for d in days),
        "account_connection_minutes": sum(
            round(d["account_connection_minutes"] * 10) for d in days
        )
        / 10,
    }


def members_renewing(*, within: dt.timedelta, at: dt.datetime):
    """Active auto-renewing members whose term ends in (at, at + within]: what the
    scheduler will charge for in that window. Uses the (status, term_end) index."""
    return Member.objects.filter(
        status=Member.Status.ACTIVE,
        term_end__gt=at,
        term_end__lte=at + within,
        auto_renew=True,
    )


def renewals_due(
    *, within: dt.timedelta, at: dt.datetime | None = None, limit: int = 500
) -> list[dict]:
    """The auto-renewals coming up, soonest first; price in hundredths of a credit."""
    at = at or clock.now()
    rows = (
        members_renewing(within=within, at=at)
        .select_related("plan")
        .order_by("term_end", "id")[:limit]
    )
    return [
        {
            "member": m,
            "term_end": m.term_end,
            "plan": m.plan.name,
            "price": m.plan.price,
            "auto_renew": m.auto_renew,
        }
        for m in rows
    ]


def balance_forecast(*, days: int | None = None, at: dt.datetime | None = None) -> dict:
    """Can the wallet pay for the auto-renewals due in the next `days` days (default:
    the organisation's low-balance window)? Amounts in hundredths of a credit."""
    at = at or clock.now()
    days = org_settings().low_balance_days if days is None else days
    totals = members_renewing(within=dt.timedelta(days=days), at=at).aggregate(
        count=Count("id"), due=Sum("plan__price")
    )
    balance = wallet.wallet_balance()
    available = balance - wallet.wallet_holds()
    due = totals["due"] or 0
    return {
        "window_days": days,
        "renewals": totals["count"],
        "due": due,
        "balance": balance,
        "available": available,
        "shortfall": max(0, due - available),
    }


def wallet_summary() -> dict:
    """The wallet in hundredths of a credit: its balance, what changes waiting for
    upstream hold, what is available, and what could be refunded for cash."""
    balance = wallet.wallet_balance()
    held = wallet.wallet_holds()
    refundable = pricing.refundable_amount(
        lots=wallet.lots_unrefunded(), wallet_balance=balance - held
    )
    return {
        "balance": balance,
        "held": held,
        "available": balance - held,
        "refundable": refundable,
    }


CURSOR_PATTERN = r"^c[0-9]{1,18}$"


def cursor_encode(last_id: int) -> str:
    """Cursors name the last transaction seen; they stay valid as the ledger grows."""
    return f"c{last_id}"


def cursor_decode(cursor: str) -> int:
    if not re.match(CURSOR_PATTERN, cursor):
        raise ValueError("bad cursor")
    return int(cursor[1:])


def row_or_not_found(qs, pk: int, *, noun: str, code: str, key: str = "id"):
    """The row of `qs` with primary key `pk`; NotFound ("No <noun> <pk>") with `code`
    and `{key: pk}` as details when there is none."""
    row = qs.filter(pk=pk).first()
    if row is None:
        raise NotFound(f"No {noun} {pk}", code=code, details={key: pk})
    return row


def narrowed(qs, **lookups):
    """`qs` filtered by each lookup that was given: None and "" mean "any"."""
    return qs.filter(**{k: v for k, v in lookups.items() if v is not None and v != ""})


def keyset_page(qs, *, before: int | None, limit: int):
    """Newest first: up to `limit` rows of `qs` with ids below `before` (all when None),
    and the id to continue from when there are more (else None)."""
    if before is not None:
        qs = qs.filter(pk__lt=before)
    rows = list(qs.order_by("-id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].pk if more and rows else None)


def ledger_page(
    *, kind=None, uid=None, since=None, until=None, before_id=None, limit=50
) -> tuple[list[dict], str | None]:
    qs = narrowed(
        LedgerTransaction.objects.select_related("member"),
        kind=kind,
        member__uid=uid,
        created_at__gte=since,
        created_at__lt=until,
    )
    txns, last_id = keyset_page(qs, before=before_id or None, limit=limit)
    entries: dict[int, list[LedgerEntry]] = {}
    for entry in LedgerEntry.objects.filter(transaction__in=txns).select_related(
        "account"
    ):
        entries.setdefault(entry.transaction_id, []).append(entry)
    rows = []
    for txn in txns:
        own = entries.get(txn.pk, [])
        wallet_amount = sum(
            e.amount for e in own if e.account.kind == Account.Kind.WALLET
        )
        rows.append(
            {
                "id": txn.pk,
                "kind": txn.kind,
                "memo": txn.memo,
                "actor": txn.actor,
                "uid": txn.member.uid if txn.member else None,
                "created_at": txn.created_at.isoformat(),
                "wallet_amount": format_amount(wallet_amount),
                "reverses": txn.reverses_id,
                "entries": [
                    {"account": e.account.code, "amount": format_amount(e.amount)}
                    for e in own
                ],
            }
        )
    return rows, (cursor_encode(last_id) if last_id is not None else None)


def org_settings() -> OrgSettings:
    """The one settings row; until an operator first saves settings, the environment's
    defaults (an unsaved row: reading settings never writes)."""
    found = caches.org_settings_row()
    return found if found is not None else org_settings_defaults()


def org_settings_defaults() -> OrgSettings:
    """The settings an organisation has before an operator first saves any: the
    environment's (unsaved)."""
    return OrgSettings(
        pk=1,
        auto_renew_default=settings.ORG_AUTO_RENEW_DEFAULT,
        reminder_days=list(settings.RENEWAL_REMINDER_DAYS),
        renew_lead_hours=settings.AUTO_RENEW_LEAD_HOURS,
        low_balance_days=settings.LOW_BALANCE_DAYS,
        notify_emails=",".join(settings.NOTIFY_EMAILS),
        updated_at=clock.now(),
    )
