"""Plans: what upstream offers, regular and custom, as the Organization API lists them."""

from rest_framework import serializers
from rest_framework.views import APIView

from api.outputs import SuccessOut, read_action
from billing.money import format_amount
from members import selectors
from members.models import Plan
from members.services.plans import plans_sync


def _price_json(price: int):
    return price // 100 if price % 100 == 0 else float(format_amount(price))


def plans_out(plans: list[Plan]) -> dict:
    regular = [
        {"name": p.name, "price": _price_json(p.price)}
        for p in plans
        if not p.is_custom
    ]
    custom = [
        {
            "name": p.name,
            "price": _price_json(p.price),
            "feature": p.tier,
            "rate_limit": p.rate_limit,
            "websocket_connections": p.websocket_connections,
            "websocket_symbols": p.websocket_symbols,
            "quota": p.quota,
        }
        for p in plans
        if p.is_custom
    ]
    return {"success": True, "regular_plans": regular, "custom_plans": custom}


class PlansApi(APIView):
    class PlansOut(SuccessOut):
        regular_plans = serializers.ListField(child=serializers.DictField())
        custom_plans = serializers.ListField(child=serializers.DictField())

    @read_action(PlansOut, summary="List plans (regular and custom)")
    def get(self, request):
        plans = selectors.plans_available()
        if not plans:
            plans_sync()
            plans = selectors.plans_available()
        return plans_out(plans)
