"""The dashboard: money, renewals, members by plan and status, and what needs
attention.

Amounts are integers in hundredths of a credit.
"""

import datetime as dt

from django.db.models import Count

from billing import selectors as wallet
from members import selectors
from members.models import Member, Operation, Plan
from members.selectors import org_settings
from notifications.models import Delivery
from orgportal import clock
from portal import display
from portal.selectors.balances import wallet_figures
from portal.selectors.series import (
    balance_series,
    spent_per_plan,
    top_members_by_requests,
    usage_series,
    wallet_flows_by_day,
)
from renewals.models import ReconciliationRun


def members_by_plan_status() -> dict:
    counts = (
        Member.objects.exclude(status=Member.Status.DELETED)
        .with_status_at(clock.now())
        .values("plan__name", "shown_status")
        .annotate(n=Count("id"))
    )
    statuses = ["active", "cancelled", "expired"]
    table: dict[str, dict[str, int]] = {}
    for row in counts:
        table.setdefault(row["plan__name"], dict.fromkeys(statuses, 0))[
            row["shown_status"]
        ] = row["n"]
    plans = [p for p in Plan.objects.values_list("name", flat=True) if p in table]
    return {
        "statuses": statuses,
        "rows": [
            (p, [(s, table[p][s]) for s in statuses], sum(table[p].values()))
            for p in plans
        ],
        "by_status": [(s, sum(table[p][s] for p in table)) for s in statuses],
        "total": sum(sum(v.values()) for v in table.values()),
    }


def renewals_upcoming(*, days: int = 7, limit: int = 20) -> list[dict]:
    """The first `limit` auto-renewals due within `days`, soonest first (price in
    hundredths). Their count and cost are the forecast's, which has no limit."""
    return selectors.renewals_due(within=dt.timedelta(days=days), limit=limit)


def dashboard() -> dict:
    now = clock.now()
    settings_row = org_settings()
    balance = wallet_figures()
    wallet_balance = wallet.wallet_balance()
    flows = wallet_flows_by_day(days=30)
    spent = sum(spent for _, spent in flows.values())
    burn_per_day = spent / 30
    runway = (wallet_balance / burn_per_day) if burn_per_day > 0 else None
    renewals = renewals_upcoming(days=7)
    expiring_manual = Member.objects.filter(
        status=Member.Status.ACTIVE,
        auto_renew=False,
        term_end__gt=now,
        term_end__lte=now + dt.timedelta(days=7),
    ).count()
    window = settings_row.low_balance_days
    # The forecast the REST API answers with and the low-balance check acts on, so
    # the dashboard never disagrees with them (exact sums over every renewal due).
    forecast = selectors.balance_forecast(days=window, at=now)
    week = forecast if window == 7 else selectors.balance_forecast(days=7, at=now)
    alerts = []
    if forecast["shortfall"] > 0:
        alerts.append(
            {
                "level": "danger",
                "text": f"Low balance: renewals due in the next {window} days cost "
                f"{display.amount(forecast['due'])} credits and the wallet has "
                f"{display.amount(forecast['available'])} available.",
                "link": "/credits/",
                "link_text": "Buy credits",
            }
        )
    elif runway is not None and runway < window:
        alerts.append(
            {
                "level": "warning",
                "text": f"At the last 30 days' spending the wallet lasts about "
                f"{runway:.0f} days.",
                "link": "/credits/",
                "link_text": "Buy credits",
            }
        )
    over_quota = list(
        Member.objects.filter(status=Member.Status.ACTIVE, quota_exceeded=True)
        .order_by("uid")
        .values_list("uid", flat=True)[:6]
    )
    if over_quota:
        alerts.append(
            {
                "level": "warning",
                "text": "Over their monthly quota: "
                + ", ".join(over_quota[:5])
                + (" and more" if len(over_quota) > 5 else ""),
                "link": "/members/?q=",
                "link_text": "Members",
            }
        )
    stuck = Operation.objects.filter(status__in=Operation.IN_FLIGHT).count()
    if stuck:
        alerts.append(
            {
                "level": "warning",
                "text": f"{stuck} member operation{'s' if stuck != 1 else ''} waiting "
                "for the upstream's answer (resolved automatically; nothing is charged "
                "twice).",
                "link": "/audit/?action=member.",
                "link_text": "Audit log",
            }
        )
    failed = Delivery.objects.filter(
        status__in=[Delivery.Status.FAILED, Delivery.Status.DEAD]
    ).count()
    if failed:
        alerts.append(
            {
                "level": "danger",
                "text": f"{failed} notification deliver{'ies' if failed != 1 else 'y'} "
                "failed or gave up.",
                "link": "/notifications/?status=failed",
                "link_text": "Delivery log",
            }
        )
    last_run = ReconciliationRun.objects.order_by("-started_at", "-id").first()
    if last_run is not None and last_run.reported:
        alerts.append(
            {
                "level": "warning",
                "text": f"The last reconciliation with upstream reported "
                f"{len(last_run.reported)} difference(s) needing a person.",
                "link": "/audit/",
                "link_text": "Audit log",
            }
        )
    return {
        "balance": balance,
        "wallet_balance": wallet_balance,
        "spent_30": spent,
        "runway_days": runway,
        "renewals": renewals,
        "renewals_count": week["renewals"],
        "renewals_cost": week["due"],
        "expiring_manual": expiring_manual,
        "by_plan": members_by_plan_status(),
        "alerts": alerts,
        "balance_points": balance_series(days=30, balance=wallet_balance, flows=flows),
        "usage_points": usage_series(days=30),
        "top_members": top_members_by_requests(days=30),
        "plan_points": spent_per_plan(days=30),
    }
