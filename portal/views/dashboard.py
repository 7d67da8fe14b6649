"""The dashboard: money, renewals, members, usage and what needs attention."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal import charts, display
from portal.selectors import dashboard as reads
from portal.views.common import role_required

BALANCE_TITLES = {
    "day": "Wallet balance, last 30 days (closing balance per day, UTC)",
    "transaction": "Wallet balance after each transaction so far",
}


@role_required("viewer")
@require_GET
def dashboard(request):
    data = reads.dashboard()
    per, points = data["balance_points"]
    data["balance_chart"] = charts.line_chart(
        points,
        title=BALANCE_TITLES[per],
        unit="credits",
        fmt=display.amount,
        empty="No wallet history yet. Buy credits to fund the wallet.",
    )
    data["usage_chart"] = charts.bar_chart(
        data["usage_points"],
        title="Gateway requests per day, all members, last 30 days",
        unit="requests",
        empty="No gateway traffic in the last 30 days. Members call the gateway with "
        "the key shown when they are created.",
    )
    data["plan_chart"] = charts.bar_chart(
        data["plan_points"],
        title="Credits spent per plan, last 30 days (net of credits given back)",
        unit="credits",
        fmt=display.amount,
        empty="No member charges in the last 30 days.",
    )
    return render(request, "portal/dashboard.html", data)
