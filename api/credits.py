"""Credits: the price of a purchase (volume tiers), purchases, and cash refunds."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import ERRORS
from api.idempotency import IDEMPOTENCY_HEADER, idempotent
from api.inputs import StrictSerializer, actor, parse, parse_query
from billing import pricing
from billing.money import format_amount
from billing.selectors import wallet_balance
from billing.services import ledger


class CreditsIn(StrictSerializer):
    credits = serializers.IntegerField(
        min_value=1, max_value=pricing.MAX_PURCHASE_CREDITS
    )


class QuoteApi(APIView):
    class QuoteQuery(serializers.Serializer):
        credits = serializers.IntegerField(
            min_value=1, max_value=pricing.MAX_PURCHASE_CREDITS
        )

    class QuoteOut(serializers.Serializer):
        success = serializers.BooleanField()
        credits = serializers.IntegerField()
        unit_price = serializers.CharField()
        total = serializers.CharField()
        currency = serializers.CharField()
        tiers = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        parameters=[QuoteQuery],
        responses={200: QuoteOut, **ERRORS},
        summary="Price of a credit purchase (volume tiers)",
    )
    def get(self, request):
        query = parse_query(self.QuoteQuery, request)
        q = pricing.quote(query["credits"])
        return Response(
            {
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
        )


class PurchaseApi(APIView):
    class PurchaseOut(serializers.Serializer):
        success = serializers.BooleanField()
        credits = serializers.IntegerField()
        unit_price = serializers.CharField()
        total = serializers.CharField()
        currency = serializers.CharField()
        balance = serializers.CharField()
        transaction_id = serializers.IntegerField()

    @extend_schema(
        request=CreditsIn,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: PurchaseOut, **ERRORS},
        summary="Record a credit purchase",
    )
    def post(self, request):
        data = parse(CreditsIn, request)

        def run():
            lot = ledger.credits_purchase(credits=data["credits"], actor=actor(request))
            return (
                200,
                {
                    "success": True,
                    "credits": lot.credits,
                    "unit_price": format_amount(lot.unit_price_cents),
                    "total": format_amount(lot.total_cents),
                    "currency": "USD",
                    "balance": format_amount(wallet_balance()),
                    "transaction_id": lot.transaction_id,
                },
            )

        return idempotent(request, run)


class RefundApi(APIView):
    class RefundOut(serializers.Serializer):
        success = serializers.BooleanField()
        credits = serializers.IntegerField()
        gross = serializers.CharField()
        fee = serializers.CharField()
        net = serializers.CharField()
        currency = serializers.CharField()
        balance = serializers.CharField()
        transaction_id = serializers.IntegerField()

    @extend_schema(
        request=CreditsIn,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: RefundOut, **ERRORS},
        summary="Refund credits for cash (at lot cost, minus a 10% fee)",
    )
    def post(self, request):
        data = parse(CreditsIn, request)

        def run():
            refund = ledger.credits_refund(
                credits=data["credits"], actor=actor(request)
            )
            return (
                200,
                {
                    "success": True,
                    "credits": data["credits"],
                    "gross": format_amount(refund.gross_cents),
                    "fee": format_amount(refund.fee_cents),
                    "net": format_amount(refund.net_cents),
                    "currency": "USD",
                    "balance": format_amount(wallet_balance()),
                    "transaction_id": refund.transaction_id,
                },
            )

        return idempotent(request, run)
