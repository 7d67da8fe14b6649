"""The wallet: its balance and renewal forecast, the ledger, and manual adjustments.
Amounts are decimal strings of credits ("12.50"); the ledger keeps hundredths."""

from rest_framework import serializers
from rest_framework.views import APIView

from api.cursors import CursorListApi, cursor_fields, cursor_list_schema
from api.idempotency import idempotent_action
from api.inputs import (
    StrictCharField,
    StrictSerializer,
    actor,
    query_text,
)
from api.outputs import SuccessOut, read_action
from billing.models import LedgerTransaction
from billing.money import format_amount, parse_amount
from billing.selectors import wallet_balance
from billing.services import ledger
from members import selectors


def forecast_out(forecast: dict) -> dict:
    return {
        "window_days": forecast["window_days"],
        "renewals": forecast["renewals"],
        "due": format_amount(forecast["due"]),
        "shortfall": format_amount(forecast["shortfall"]),
        "covered": forecast["shortfall"] == 0,
    }


def balance_out(wallet: dict, *, forecast: dict) -> dict:
    """`wallet` from selectors.wallet_summary, `forecast` from
    selectors.balance_forecast."""
    return {
        "balance": format_amount(wallet["balance"]),
        "held": format_amount(wallet["held"]),
        "available": format_amount(wallet["available"]),
        "refundable": format_amount(wallet["refundable"]),
        "forecast": forecast_out(forecast),
    }


def posted_out(txn: LedgerTransaction, **extra) -> dict:
    """A posted transaction's answer, with the wallet's balance after it."""
    return {
        "success": True,
        "transaction_id": txn.pk,
        **extra,
        "balance": format_amount(wallet_balance()),
    }


class ForecastOut(serializers.Serializer):
    window_days = serializers.IntegerField(
        help_text="days ahead the forecast looks (organisation setting)"
    )
    renewals = serializers.IntegerField(help_text="auto-renewals due in the window")
    due = serializers.CharField(help_text="what those renewals will cost")
    shortfall = serializers.CharField(
        help_text="credits missing to cover them; 0.00 when covered"
    )
    covered = serializers.BooleanField()


class BalanceApi(APIView):
    class BalanceOut(SuccessOut):
        balance = serializers.CharField()
        held = serializers.CharField()
        available = serializers.CharField()
        refundable = serializers.CharField()
        forecast = ForecastOut(help_text="can the wallet pay for the coming renewals")

    @read_action(BalanceOut, summary="Wallet balance")
    def get(self, request):
        return {
            "success": True,
            **balance_out(
                selectors.wallet_summary(), forecast=selectors.balance_forecast()
            ),
        }


class AdjustmentIn(StrictSerializer):
    # Non-zero, at most two places, below 100,000,000: a typo guard, not a business rule.
    amount = serializers.RegexField(
        r"^-?(0\.(0[1-9]|[1-9][0-9]?)|[1-9][0-9]{0,7}(\.[0-9]{1,2})?)$",
        help_text='non-zero decimal string, e.g. "-10.00"',
    )
    reason = StrictCharField(max_length=250)


class AdjustmentApi(APIView):
    class AdjustmentOut(SuccessOut):
        transaction_id = serializers.IntegerField()
        balance = serializers.CharField()

    @idempotent_action(
        {200: AdjustmentOut}, body=AdjustmentIn, summary="Manual wallet adjustment"
    )
    def post(self, request, data):
        txn = ledger.ledger_adjust(
            amount=parse_amount(data["amount"]),
            reason=data["reason"],
            actor=actor(request),
        )
        return 200, posted_out(txn)


class ReversalIn(StrictSerializer):
    reason = StrictCharField(max_length=250)


class ReversalApi(APIView):
    class ReversalOut(SuccessOut):
        transaction_id = serializers.IntegerField(help_text="the reversal's own id")
        reverses = serializers.IntegerField()
        balance = serializers.CharField()

    @idempotent_action(
        {200: ReversalOut},
        body=ReversalIn,
        summary="Reverse a manual adjustment (posts its mirror image)",
    )
    def post(self, request, data, transaction_id: int):
        txn = ledger.transaction_reverse(
            transaction_id=transaction_id, reason=data["reason"], actor=actor(request)
        )
        return 200, posted_out(txn, reverses=transaction_id)


@cursor_list_schema(
    "LedgerOut",
    serializers.ListField(child=serializers.DictField()),
    summary="Ledger transactions, newest first (cursor pagination)",
)
class LedgerApi(CursorListApi):
    key = "transactions"

    class Query(serializers.Serializer):
        kind = serializers.ChoiceField(
            choices=[c for c, _ in LedgerTransaction.Kind.choices],
            required=False,
        )
        uid = query_text(required=False)
        since = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)
        cursor, limit = cursor_fields(max_limit=500)

    def page(self, **filters):
        return selectors.ledger_page(**filters)
