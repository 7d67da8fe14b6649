"""Credits: buy with a live volume-tier quote; cash refunds with the fee shown first.
Both go through a review page showing the exact total and the wallet after."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from billing import pricing
from billing import selectors as wallet
from billing.models import CashRefund, CreditLot
from billing.money import credits_to_hundredths
from billing.services import ledger
from members.errors import ServiceError
from portal import display
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


def _tier_of(credits: int) -> dict | None:
    return next((t for t in reversed(_tiers()) if credits >= t["lowest"]), None)


def _page(request, *, form=None, status=200):
    """The credits page; `form` (a purchase or refund form by its prefix) shown with
    its errors."""
    forms = {"buy": CreditsForm(prefix="buy"), "refund": CreditsForm(prefix="refund")}
    if form is not None:
        forms[form.prefix] = form
    return render(
        request,
        "portal/credits.html",
        {
            "balance": balances.wallet_figures(),
            "tiers": _tiers(),
            "purchase_form": forms["buy"],
            "refund_form": forms["refund"],
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
    return render(
        request,
        "portal/credits/_quote.html",
        {"quote": quote, "tier": _tier_of(quote.credits), "form": form},
    )


def _review_then_act(request, *, prefix: str, review, act, done):
    """First POST: the review page `review(credits)` describes, with the exact total
    in USD cents to confirm. A POST confirming the total the review still gives: the
    service `act(credits=, actor=)`, and `done(credits, its result)` shown back on the
    credits page."""
    form = CreditsForm(request.POST, prefix=prefix)
    if form.is_valid():
        credits = form.cleaned_data["credits"]
        try:
            context = review(credits)
            confirmed = request.POST.get("confirm_total")
            if confirmed != str(context["total"]):
                return render(
                    request,
                    "portal/credits/review.html",
                    {
                        **context,
                        "credits": credits,
                        "field": form.add_prefix("credits"),
                        "changed": confirmed is not None,
                    },
                )
            messages.success(
                request, done(credits, act(credits=credits, actor=actor(request)))
            )
            return redirect("portal:credits")
        except ServiceError as exc:
            form_errors_from(form, exc, default_field="credits")
    return _page(request, form=form, status=400)


def _wallet_row(moved: int) -> tuple[str, str, str]:
    balance = wallet.wallet_balance()
    return (
        "Wallet",
        f"{display.amount(balance)} → {display.amount(balance + moved)} credits",
        "wallet-after",
    )


def _review(
    credits: int, *, moving: str, moved: int, rows: list, **page: str | int
) -> dict:
    """A review page's context: `page` (title, total, button), then its rows: the
    `credits` as `moving` names them, `rows`, and the wallet before and after `moved`
    hundredths of a credit. Credits leaving the wallet get a red button."""
    return {
        **page,
        "rows": [
            (moving, display.count(credits), "review-credits"),
            *rows,
            _wallet_row(moved),
        ],
        "danger": moved < 0,
    }


def _purchase_review(credits: int) -> dict:
    quote = pricing.quote(credits)
    tier = _tier_of(credits)
    tier_text = (
        f" (tier {display.count(tier['lowest'])}"
        + (f"–{display.count(tier['highest'])})" if tier["highest"] else "+)")
        if tier
        else ""
    )
    total = display.usd(quote.total_cents)
    unit = f"{display.usd(quote.unit_price_cents)}{tier_text}"
    return _review(
        credits,
        title=f"Buy {display.count(credits)} credits",
        total=quote.total_cents,
        button=f"Buy and pay {total}",
        moving="Credits added to the wallet",
        moved=credits_to_hundredths(credits),
        rows=[
            ("Price per credit", unit, "review-unit"),
            ("Total to pay", total, "review-total"),
        ],
    )


def _bought(credits: int, lot: CreditLot) -> str:
    return (
        f"Bought {display.count(credits)} credits at "
        f"{display.usd(lot.unit_price_cents)} each: "
        f"{display.usd(lot.total_cents)}."
    )


def _refund_review(credits: int) -> dict:
    valuation = ledger.refund_quote(credits=credits)
    net = display.usd(valuation.net_cents)
    fee = display.usd(valuation.fee_cents)
    return _review(
        credits,
        title=f"Refund {display.count(credits)} credits for cash",
        total=valuation.net_cents,
        button=f"Refund and pay out {net}",
        moving="Credits leave the wallet",
        moved=-credits_to_hundredths(credits),
        rows=[
            ("What they cost", display.usd(valuation.gross_cents), ""),
            (f"Fee ({pricing.REFUND_FEE_PERCENT}%)", fee, "refund-fee"),
            ("Paid out", net, "refund-net"),
        ],
    )


def _refunded(credits: int, refund: CashRefund) -> str:
    return (
        f"Refunded {display.count(credits)} credits: "
        f"{display.usd(refund.net_cents)} paid out after a "
        f"{display.usd(refund.fee_cents)} fee."
    )


@role_required("admin")
@require_POST
def credits_purchase(request):
    return _review_then_act(
        request,
        prefix="buy",
        review=_purchase_review,
        act=ledger.credits_purchase,
        done=_bought,
    )


@role_required("owner")
@require_http_methods(["GET", "POST"])
def credits_refund(request):
    if request.method == "GET":
        return redirect("portal:credits")
    return _review_then_act(
        request,
        prefix="refund",
        review=_refund_review,
        act=ledger.credits_refund,
        done=_refunded,
    )
