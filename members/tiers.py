"""Feature tiers and what each allows (design.md, "Plans"). Pure data and functions."""

from dataclasses import dataclass


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


TIERS: dict[str, TierFeatures] = {
    "pro": TierFeatures(
        rest_data_points_max=20_000,
        deep_history=False,
        tick_data=False,
        newsfeed=True,
        documents=True,
        screener_options="delayed",
        ws_subscriptions=2,
        ws_max_dp=1_000,
        rate_limit=25,
        quota=50_000,
        websocket_connections=1,
    ),
    "ultra": TierFeatures(
        rest_data_points_max=30_000,
        deep_history=True,
        tick_data=False,
        newsfeed=True,
        documents=True,
        screener_options="realtime",
        ws_subscriptions=5,
        ws_max_dp=1_000,
        rate_limit=40,
        quota=120_000,
        websocket_connections=1,
    ),
    "mega": TierFeatures(
        rest_data_points_max=30_000,
        deep_history=True,
        tick_data=True,
        newsfeed=True,
        documents=True,
        screener_options="realtime",
        ws_subscriptions=12,
        ws_max_dp=30_000,
        rate_limit=80,
        quota=0,
        websocket_connections=3,
    ),
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
