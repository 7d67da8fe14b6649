from django.db import transaction

from billing.money import parse_amount
from members import caches, tiers
from members.errors import UpstreamFailed, ValidationFailed
from members.models import Plan
from members.upstream import OrgClient, UpstreamError, shared_client
from orgportal import clock


def plans_sync(*, client: OrgClient | None = None) -> list[Plan]:
    """Copy upstream's regular and custom plans; plans no longer listed stay (members may
    be on them) but are marked unavailable for new members."""
    data = (client or shared_client()).plans()
    now = clock.now()
    seen: list[str] = []
    with transaction.atomic():
        for key, custom in (("regular_plans", False), ("custom_plans", True)):
            for raw in data.get(key, []):
                seen.append(_upsert(now=now, **_plan_fields(raw, custom=custom)))
        Plan.objects.exclude(name__in=seen).update(available=False)
        caches.caches_clear()
    return list(Plan.objects.filter(name__in=seen))


def plans_offered() -> list[Plan]:
    """The plans a new member may be put on. A deployment that has never read the
    upstream's plans (a fresh database) reads them once here; UpstreamError when the
    upstream cannot be reached."""
    if not Plan.objects.exists():
        plans_sync()
    return list(Plan.objects.filter(available=True))


def _plan_fields(raw: dict, *, custom: bool) -> dict:
    """A plan as upstream lists it: a regular plan's limits are its tier's; a custom
    plan names its tier (`feature`) and may set its own limits."""
    tier_name = raw["feature"] if custom else raw["name"]
    tier = tiers.tier_features(tier_name)
    own = raw if custom else {}
    return {
        "name": raw["name"],
        "price": _price(raw["price"]),
        "tier": tier_name,
        "is_custom": custom,
        "rate_limit": own.get("rate_limit") or tier.rate_limit,
        "quota": own.get("quota", tier.quota) or 0,
        "websocket_symbols": own.get("websocket_symbols") or tier.ws_subscriptions,
        "websocket_connections": own.get("websocket_connections")
        or tier.websocket_connections,
    }


def _price(value) -> int:
    """Upstream lists prices in credits as JSON numbers; never go through a float."""
    return parse_amount(value if isinstance(value, int) else str(value))


def _upsert(*, name: str, now, **fields) -> str:
    Plan.objects.update_or_create(
        name=name, defaults={**fields, "available": True, "synced_at": now}
    )
    return name


def plan_for_new_term(name: str) -> Plan:
    """The plan a member may be put on now; syncs from upstream once if it is unknown."""
    if not isinstance(name, str) or not name:
        raise ValidationFailed(
            "plan is required", details={"plan": ["This field is required."]}
        )
    plan = caches.plan_named(name)
    if plan is None or not plan.available:
        try:
            plans_sync()
        except UpstreamError as exc:
            raise UpstreamFailed(
                f"Plan {name!r} is not known here and the upstream plan list could not be "
                f"read ({exc.message}); try again shortly",
                code="UPSTREAM_UNAVAILABLE",
                status=503,
            ) from None
        plan = Plan.objects.filter(name=name, available=True).first()
    if plan is None:
        names = ", ".join(
            Plan.objects.filter(available=True).values_list("name", flat=True)
        )
        raise ValidationFailed(
            f"Unknown plan {name!r}; available plans: {names}",
            code="PLAN_NOT_FOUND",
            details={"plan": [f"unknown plan; one of: {names}"]},
        )
    return plan
