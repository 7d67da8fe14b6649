"""The dashboard: money, renewals, members, usage and what needs attention."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from billing.money import format_amount
from portal import charts
from portal.selectors import dashboard as reads
from portal.views.common import role_required


@role_required("viewer")
@require_GET
def dashboard(request):
    data = reads.dashboard()
    data["balance_chart"] = charts.line_chart(
        data["balance_points"],
        title="Wallet balance, last 30 days (closing balance per day, UTC)",
        unit="credits",
        fmt=format_amount,
    )
    data["usage_chart"] = charts.bar_chart(
        data["usage_points"],
        title="Gateway requests per day, all members, last 30 days",
        unit="requests",
    )
    data["plan_chart"] = charts.bar_chart(
        data["plan_points"],
        title="Credits spent per plan, last 30 days (net of credits given back)",
        unit="credits",
        fmt=format_amount,
    )
    data["usage_total"] = sum(v for _, v in data["usage_points"])
    return render(request, "portal/dashboard.html", data)
