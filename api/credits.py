"""Credits: the price of a purchase (volume tiers), purchases, and cash refunds."""

from rest_framework import serializers
from rest_framework.views import APIView

from api.idempotency import idempotent_action
from api.inputs import StrictSerializer, actor
from api.outputs import SuccessOut, read_action
from billing import pricing
from billing.money import format_amount
from billing.selectors import wallet_balance
from billing.services import ledger


def credits_field() -> serializers.IntegerField:
    """A number of credits to buy or refund: at least one, at most one purchase's cap."""
    return serializers.IntegerField(min_value=1, max_value=pricing.MAX_PURCHASE_CREDITS)


def wallet_change_out(*, credits: int, transaction_id: int, **amounts: int) -> dict:
    """A purchase's or refund's answer: its amounts (cents) as decimal strings, then the
    wallet's balance after it."""
    return {
        "success": True,
        "credits": credits,
        **{name: format_amount(cents) for name, cents in amounts.items()},
        "currency": "USD",
        "balance": format_amount(wallet_balance()),
        "transaction_id": transaction_id,
    }


def wallet_change_serializer(name: str, *amounts: str) -> type[serializers.Serializer]:
    """The serializer `name` that documents wallet_change_out with these amounts."""
    return type(
        name,
        (SuccessOut,),
        {
            "credits": serializers.IntegerField(),
            **{amount: serializers.CharField() for amount in amounts},
            "currency": serializers.CharField(),
            "balance": serializers.CharField(),
            "transaction_id": serializers.IntegerField(),
        },
    )


class CreditsIn(StrictSerializer):
    credits = credits_field()


class QuoteApi(APIView):
    class QuoteQuery(serializers.Serializer):
        credits = credits_field()

    class QuoteOut(SuccessOut):
        credits = serializers.IntegerField()
        unit_price = serializers.CharField()
        total = serializers.CharField()
        currency = serializers.CharField()
        tiers = serializers.ListField(child=serializers.DictField())

    @read_action(
        QuoteOut, query=QuoteQuery, summary="Price of a credit purchase (volume tiers)"
    )
    def get(self, request, query):
        q = pricing.quote(query["credits"])
        return {
            "success": True,
            "credits": q.credits,
            "unit_price": format_amount(q.unit_price_cents),
            "total": format_amount(q.total_cents),
            "currency": "USD",
            "tiers": [
                {"from": lowest, "unit_price": format_amount(price)}
                for lowest, price in pricing.VOLUME_TIERS
            ],
        }


class PurchaseApi(APIView):
    PurchaseOut = wallet_change_serializer("PurchaseOut", "unit_price", "total")

    @idempotent_action(
        {200: PurchaseOut}, body=CreditsIn, summary="Record a credit purchase"
    )
    def post(self, request, data):
        lot = ledger.credits_purchase(credits=data["credits"], actor=actor(request))
        return 200, wallet_change_out(
            credits=lot.credits,
            transaction_id=lot.transaction_id,
            unit_price=lot.unit_price_cents,
            total=lot.total_cents,
        )


class RefundApi(APIView):
    RefundOut = wallet_change_serializer("RefundOut", "gross", "fee", "net")

    @idempotent_action(
        {200: RefundOut},
        body=CreditsIn,
        summary="Refund credits for cash (at lot cost, minus a 10% fee)",
    )
    def post(self, request, data):
        refund = ledger.credits_refund(credits=data["credits"], actor=actor(request))
        return 200, wallet_change_out(
            credits=data["credits"],
            transaction_id=refund.transaction_id,
            gross=refund.gross_cents,
            fee=refund.fee_cents,
            net=refund.net_cents,
        )
