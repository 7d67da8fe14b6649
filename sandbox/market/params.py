"""Query parameters of the market data API, parsed or refused with 400
INVALID_PARAMETER, and the plan checks handlers make (403 FEATURE_NOT_IN_PLAN)."""

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from sandbox.market.context import MEMBER_KEY, MarketError
from sandbox.state.members import Member
from sandbox.state.plans import TIER_FEATURES, TierFeatures
from sandbox.synth.catalogue import lookup
from sandbox.synth.symbols import Symbol

MAX_DATA_POINTS = 30_000
# Plans without real-time screeners and options see them this many seconds late.
DELAYED_SECONDS = 900

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def invalid(name: str, message: str, **details: Any) -> MarketError:
    return MarketError(
        400, "INVALID_PARAMETER", message, {"parameter": name, **details}
    )


def param_bool(query: MultiMapping[str], name: str, default: bool) -> bool:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise invalid(name, f"'{name}' must be true or false")


def param_int(
    query: MultiMapping[str],
    name: str,
    *,
    default: int | None,
    low: int,
    high: int,
) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        if default is None:
            raise invalid(name, f"'{name}' is required")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(name, f"'{name}' must be an integer") from None
    if not low <= value <= high:
        raise invalid(name, f"'{name}' must be between {low} and {high}")
    return value


def param_choice(
    query: MultiMapping[str],
    name: str,
    choices: tuple[str, ...],
    *,
    default: str | None = None,
) -> str:
    raw = query.get(name)
    if raw is None or raw == "":
        if default is None:
            raise invalid(name, f"'{name}' is required", allowed=list(choices))
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise invalid(
            name, f"'{name}' must be one of {', '.join(choices)}", allowed=list(choices)
        )
    return value


def param_date(query: MultiMapping[str], name: str, default: dt.date) -> dt.date:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise invalid(name, f"'{name}' must be a date (YYYY-MM-DD)") from None


def symbol_of(code: str) -> Symbol:
    symbol = lookup(code)
    if symbol is None:
        raise MarketError(
            404, "SYMBOL_NOT_FOUND", "Invalid Symbol Code", {"symbol": code}
        )
    return symbol


def path_symbol(request: web.Request) -> Symbol:
    return symbol_of(request.match_info["symbol"])


def plan_features(request: web.Request) -> TierFeatures:
    member: Member = request[MEMBER_KEY]
    return member.plan.features


def not_in_plan(feature: str, has_it: Callable[[TierFeatures], bool]) -> MarketError:
    tiers = [name for name, features in TIER_FEATURES.items() if has_it(features)]
    return MarketError(
        403,
        "FEATURE_NOT_IN_PLAN",
        f"Your plan does not include {feature}",
        {"feature": feature, "required_plan": tiers[0], "available_on": tiers},
    )


def data_points(query: MultiMapping[str], plan_max: int) -> int:
    """`data_points` (or its alias `dp`): 1-30,000, clamped to what the plan allows;
    the plan's maximum when absent."""
    name = "data_points" if query.get("data_points") else "dp"
    requested = param_int(query, name, default=plan_max, low=1, high=MAX_DATA_POINTS)
    return min(requested, plan_max)


def adjustments(query: MultiMapping[str]) -> tuple[bool, bool]:
    dadj = param_bool(query, "dadj", False)
    name = "backadjust" if query.get("backadjust") else "badj"
    return dadj, param_bool(query, name, False)


_CURRENCY = re.compile(r"^[A-Za-z]{3,4}$")


def check_common(query: MultiMapping[str]) -> None:
    """Documented parameters the sandbox accepts but does not act on."""
    param_bool(query, "realtime", False)
    currency = query.get("currency")
    if currency and not _CURRENCY.match(currency):
        raise invalid("currency", "'currency' must be a currency code such as USD")


def known_kind(request: web.Request, kinds: tuple[str, ...]) -> str:
    kind = request.match_info["kind"]
    if kind not in kinds:
        raise MarketError(
            404, "NOT_FOUND", "Not Found", {"path": request.path, "kinds": list(kinds)}
        )
    return kind


def delay_seconds(request: web.Request) -> int:
    return 0 if plan_features(request).realtime_screener else DELAYED_SECONDS
