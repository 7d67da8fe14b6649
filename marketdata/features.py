"""Which plan features a market data request needs, and the data point clamp.
Pure functions: no I/O, tested exhaustively."""

from dataclasses import dataclass

from members.tiers import TIER_ORDER, TIERS

# Query parameter aliases clients use; the first name is the canonical one.
DATA_POINT_PARAMS = ("data_points", "dp")


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str
    details: dict


def tiers_with(feature: str) -> list[str]:
    return [t for t in TIER_ORDER if getattr(TIERS[t], feature)]


def required_feature(path: str, query: dict[str, str]) -> str | None:
    """The TierFeatures flag a request needs beyond the base plan, if any."""
    parts = path.strip("/").split("/")
    # /v3/symbols/{symbol}/history
    if len(parts) >= 4 and parts[1] == "symbols" and parts[-1] == "history":
        return "deep_history"
    if query.get("bar_type") == "tick":
        return "tick_data"
    if len(parts) >= 2 and parts[1] == "newsfeed":
        return "newsfeed"
    if len(parts) >= 2 and parts[1] == "documents":
        return "documents"
    return None


def feature_refusal(
    *, tier: str, plan: str, feature: str, newsfeed: bool
) -> Refusal | None:
    labels = {
        "deep_history": "Deep historical data",
        "tick_data": "Tick data",
        "newsfeed": "The news feed",
        "documents": "The document API",
    }
    allowed = getattr(TIERS[tier], feature)
    if feature in ("newsfeed", "documents") and not newsfeed:
        allowed = False
    if allowed:
        return None
    available = tiers_with(feature)
    return Refusal(
        403,
        "FEATURE_NOT_IN_PLAN",
        f"{labels[feature]} is not in the {plan} plan; it comes with "
        f"{' and '.join(available)}.",
        {"feature": feature, "plan": plan, "available_on": available},
    )


def clamp_data_points(
    query: list[tuple[str, str]], maximum: int
) -> tuple[list, str | None]:
    """Lower data_points / dp above the plan maximum to it. Returns the new query and a
    note for the response header, or None when nothing changed."""
    note = None
    out = []
    for name, value in query:
        if name in DATA_POINT_PARAMS and value.isdigit() and int(value) > maximum:
            note = f"{name}={maximum}; asked {value}, the plan maximum is {maximum}"
            value = str(maximum)
        out.append((name, value))
    return out, note
