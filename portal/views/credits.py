"""Credits: buy with a live volume-tier quote; cash refunds with the fee shown first."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from billing import pricing
from billing.models import CashRefund, CreditLot
from billing.money import format_amount
from billing.services import ledger
from members.errors import ServiceError
from portal.forms import CreditsForm
from portal.selectors import balances
from portal.views.common import actor, form_errors_from, role_required


def _tiers() -> list[dict]:
    rows = []
    for i, (lowest, cents) in enumerate(pricing.VOLUME_TIERS):
        upper = (
            pricing.VOLUME_TIERS[i + 1][0] - 1
            if i + 1 < len(pricing.VOLUME_TIERS)
            else None
        )
        rows.append({"lowest": lowest, "highest": upper, "unit_cents": cents})
    return rows


def _page(request, *, purchase_form=None, refund_form=None, status=200):
    return render(
        request,
        "portal/credits.html",
        {
            "balance": balances.wallet_figures(),
            "tiers": _tiers(),
            "purchase_form": purchase_form or CreditsForm(prefix="buy"),
            "refund_form": refund_form or CreditsForm(prefix="refund"),
            "lots": list(CreditLot.objects.order_by("-id")[:10]),
            "refunds": list(CashRefund.objects.order_by("-id")[:10]),
            "fee_percent": pricing.REFUND_FEE_PERCENT,
        },
        status=status,
    )


@role_required("viewer")
@require_GET
def credits_page(request):
    return _page(request)


@role_required("viewer")
@require_GET
def credits_quote(request):
    """The quote beside the purchase field, refreshed by htmx as the user types."""
    if not request.GET.get("buy-credits", "").strip():
        return render(request, "portal/credits/_quote.html", {})
    form = CreditsForm(request.GET, prefix="buy")
    if not form.is_valid():
        return render(request, "portal/credits/_quote.html", {"form": form})
    quote = pricing.quote(form.cleaned_data["credits"])
    tier_row = next(
        (t for t in reversed(_tiers()) if quote.credits >= t["lowest"]), None
    )
    return render(
        request,
        "portal/credits/_quote.html",
        {"quote": quote, "tier": tier_row, "form": form},
    )


@role_required("admin")
@require_POST
def credits_purchase(request):
    form = CreditsForm(request.POST, prefix="buy")
    if form.is_valid():
        try:
            lot = ledger.credits_purchase(
                credits=form.cleaned_data["credits"], actor=actor(request)
            )
        except ServiceError as exc:
            form_errors_from(form, exc, default_field="credits")
        else:
            messages.success(
                request,
                f"Bought {lot.credits:,} credits at "
                f"{format_amount(lot.unit_price_cents)} USD each: "
                f"{format_amount(lot.total_cents)} USD.",
            )
            return redirect("portal:credits")
    return _page(request, purchase_form=form, status=400)


@role_required("owner")
@require_http_methods(["GET", "POST"])
def credits_refund(request):
    """First POST: the valuation to confirm (gross, fee, net). Second POST, confirming
    the same net amount: the refund."""
    form = CreditsForm(request.POST or None, prefix="refund")
    if request.method == "GET":
        return redirect("portal:credits")
    if not form.is_valid():
        return _page(request, refund_form=form, status=400)
    credits = form.cleaned_data["credits"]
    try:
        valuation = ledger.refund_quote(credits=credits)
    except ServiceError as exc:
        form_errors_from(form, exc, default_field="credits")
        return _page(request, refund_form=form, status=400)
    confirmed = request.POST.get("confirm_net")
    if confirmed == str(valuation.net_cents):
        try:
            refund = ledger.credits_refund(credits=credits, actor=actor(request))
        except ServiceError as exc:
            form_errors_from(form, exc, default_field="credits")
            return _page(request, refund_form=form, status=400)
        messages.success(
            request,
            f"Refunded {credits:,} credits: {format_amount(refund.net_cents)} USD paid "
            f"out after a {format_amount(refund.fee_cents)} USD fee.",
        )
        return redirect("portal:credits")
    return render(
        request,
        "portal/credits/refund_confirm.html",
        {
            "credits": credits,
            "valuation": valuation,
            "fee_percent": pricing.REFUND_FEE_PERCENT,
            "changed": confirmed is not None,
        },
    )
