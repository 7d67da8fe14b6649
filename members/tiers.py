"""Feature tiers and what each allows (design.md, "Plans"). Pure data and functions."""

from dataclasses import dataclass, fields


@dataclass(frozen=True, kw_only=True)
class TierFeatures:
    rest_data_points_max: int  # most bars one REST series request returns
    deep_history: bool
    tick_data: bool
    newsfeed: bool
    documents: bool
    screener_options: str  # "delayed" or "realtime"
    ws_subscriptions: int
    ws_max_dp: int
    # Upstream defaults for a regular plan of this tier.
    rate_limit: int  # REST requests per minute
    quota: int  # monthly REST requests; 0 = unlimited
    websocket_connections: int


# One row a tier, its values in the order of TierFeatures' fields above.
_TIER_ROWS = {
    "pro": (20_000, False, False, True, True, "delayed", 2, 1_000, 25, 50_000, 1),
    "ultra": (30_000, True, False, True, True, "realtime", 5, 1_000, 40, 120_000, 1),
    "mega": (30_000, True, True, True, True, "realtime", 12, 30_000, 80, 0, 3),
}
TIERS: dict[str, TierFeatures] = {
    name: TierFeatures(
        **dict(zip((f.name for f in fields(TierFeatures)), row, strict=True))
    )
    for name, row in _TIER_ROWS.items()
}
TIER_ORDER = ["pro", "ultra", "mega"]


def tier_features(tier: str) -> TierFeatures:
    try:
        return TIERS[tier]
    except KeyError:
        raise ValueError(f"unknown feature tier {tier!r}") from None


def effective_limit(*, upstream: int, override: int | None) -> int:
    """A per-member override may only be stricter than upstream. 0 means unlimited."""
    if override is None:
        return upstream
    if upstream == 0:
        return override
    if override == 0:
        return upstream
    return min(upstream, override)
