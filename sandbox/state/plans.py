"""Plans: the feature tiers with their limits and features, the regular and custom
plans of the catalogue, and the 30-day period a plan is paid for, prorated by the second."""

import dataclasses
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

PERIOD = dt.timedelta(days=30)
PERIOD_SECONDS = int(PERIOD.total_seconds())


@dataclasses.dataclass(frozen=True, slots=True)
class PlanLimits:
    rate_limit: int  # requests per minute
    quota: int  # REST requests per month; 0 = unlimited
    websocket_symbols: int
    websocket_connections: int
    newsfeed: bool


TIER_LIMITS: Mapping[str, PlanLimits] = {
    "pro": PlanLimits(25, 50_000, 2, 1, True),
    "ultra": PlanLimits(40, 120_000, 5, 1, True),
    "mega": PlanLimits(80, 0, 12, 3, True),
}


@dataclasses.dataclass(frozen=True, slots=True)
class TierFeatures:
    """What a feature tier unlocks in the market data REST API."""

    data_points: int  # most bars one series request returns
    deep_history: bool  # /v3/symbols/{s}/history
    tick: bool  # bar_type=tick
    realtime_screener: bool  # screeners and options without the 15-minute delay


TIER_FEATURES: Mapping[str, TierFeatures] = {
    "pro": TierFeatures(20_000, False, False, False),
    "ultra": TierFeatures(30_000, True, False, True),
    "mega": TierFeatures(30_000, True, True, True),
}
# Catalogue prices in whole credits.
REGULAR_PRICES: Mapping[str, int] = {"pro": 15, "ultra": 25, "mega": 50}
DEFAULT_CUSTOM_PLANS: tuple[Mapping[str, Any], ...] = (
    {
        "name": "ultra_plus",
        "price": 40,
        "feature": "ultra",
        "rate_limit": 80,
        "websocket_connections": 1,
        "websocket_symbols": 5,
        "quota": 0,
    },
)
_LIMIT_FIELDS = ("rate_limit", "quota", "websocket_symbols", "websocket_connections")


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    name: str
    price: int | Decimal  # credits, as the catalogue shows it
    feature: str  # the tier whose features the plan has
    limits: PlanLimits
    custom: bool

    @property
    def features(self) -> TierFeatures:
        return TIER_FEATURES[self.feature]

    @property
    def price_hundredths(self) -> int:
        return int(Decimal(self.price) * 100)

    def as_json(self) -> dict[str, Any]:
        price = int(self.price) if self.price == int(self.price) else float(self.price)
        if not self.custom:
            return {"name": self.name, "price": price}
        return {
            "name": self.name,
            "price": price,
            "feature": self.feature,
            "rate_limit": self.limits.rate_limit,
            "websocket_connections": self.limits.websocket_connections,
            "websocket_symbols": self.limits.websocket_symbols,
            "quota": self.limits.quota,
        }


def custom_plan(config: Mapping[str, Any]) -> Plan:
    """A custom plan: its feature tier's limits, overridden by the numbers it gives."""
    feature = config["feature"]
    if feature not in TIER_LIMITS:
        raise ValueError(f"custom plan feature must be one of {sorted(TIER_LIMITS)}")
    overrides = {key: int(config[key]) for key in _LIMIT_FIELDS if key in config}
    return Plan(
        # Upstream configures custom plans by `id`; the catalogue lists them by `name`.
        name=str(config.get("name") or config["id"]),
        price=Decimal(str(config["price"])),
        feature=feature,
        limits=dataclasses.replace(TIER_LIMITS[feature], **overrides),
        custom=True,
    )


def prorate(amount: int, remaining: dt.timedelta) -> int:
    """`amount` (hundredths) for `remaining` of a 30-day period, per whole second,
    rounded half-to-even to hundredths. Time past the end counts as none."""
    seconds = max(0, int(remaining.total_seconds()))
    return round(Fraction(amount * seconds, PERIOD_SECONDS))
