"""What a member may subscribe to on `/live`: the subscription message checked against
the member's plan. Pure functions, no I/O.

A subscription message replaces the whole set (upstream's replace-all). It is accepted
whole or refused whole with one upstream-style `{"message": ...}` error, changing nothing.
Counting follows design.md: one `series` subscription is 1, `quote` codes count one per
started ten. `max_dp` is adjusted down to the plan maximum, never refused, as upstream
does; tick data and `max_bars` need a plan whose tier has tick data.
"""

from dataclasses import dataclass

from members.tiers import TierFeatures

BAR_TYPES = frozenset({"tick", "second", "minute", "hour", "day", "week", "month"})
TYPES = frozenset({"series", "quote"})
QUOTES_PER_SUBSCRIPTION = 10
MAX_BAR_INTERVAL = 1_000
MAX_CODE_LENGTH = 64
# More items than any plan allows in one message are refused before they are examined.
MAX_ITEMS = 1_000
_OPTIONS = ("extended", "dadj", "settlement", "backadjust")
_HISTORY = ("recent_bars", "max_bars")


class Refused(ValueError):
    """The message is refused whole; `str(exc)` is the text of the `message` answer."""


@dataclass(frozen=True, slots=True)
class Plan:
    """The part of a member's plan that decides subscriptions."""

    symbols: int  # websocket_symbols: subscriptions allowed at once
    tick: bool  # tick data and max_bars
    max_dp: int  # most historical points on (re)connect


def plan_of(features: TierFeatures, websocket_symbols: int) -> Plan:
    return Plan(websocket_symbols, features.tick_data, features.ws_max_dp)


@dataclass(frozen=True, slots=True)
class Subscription:
    """One accepted item. `stream` names the data (one upstream stream serves every
    subscriber with the same stream); `item` is what goes upstream."""

    stream: tuple
    item: dict

    @property
    def code(self) -> str:
        return self.item["code"]

    @property
    def is_quote(self) -> bool:
        return self.item["type"] == "quote"


def count(subscriptions: list[Subscription]) -> int:
    """Subscriptions used: one per series, one per started ten quote codes."""
    series = sum(1 for s in subscriptions if not s.is_quote)
    quotes = len(subscriptions) - series
    return series + -(-quotes // QUOTES_PER_SUBSCRIPTION)


def check(message: dict, plan: Plan) -> tuple[list[Subscription], list[str]]:
    """(the accepted subscriptions, notes on adjusted values), or raises Refused."""
    items = message.get("subscriptions")
    if not isinstance(items, list):
        raise Refused("'subscriptions' must be a list of subscription objects")
    if not items:
        raise Refused("'subscriptions' cannot be empty")
    if len(items) > MAX_ITEMS:
        raise Refused(f"Too many subscriptions in one message (at most {MAX_ITEMS})")
    accepted: list[Subscription] = []
    notes: list[str] = []
    seen: set[tuple] = set()
    for position, item in enumerate(items):
        subscription, note = _item(item, position, plan)
        if note:
            notes.append(note)
        if subscription.stream in seen:  # the same data twice is one subscription
            continue
        seen.add(subscription.stream)
        accepted.append(subscription)
    used = count(accepted)
    if used > plan.symbols:
        raise Refused(
            f"Subscription limit exceeded: {plan.symbols} allowed, this message "
            f"asks for {used}"
        )
    return accepted, notes


def trim(subscriptions: list[Subscription], plan: Plan) -> list[Subscription]:
    """The subscriptions a changed plan still allows, in the member's order: those that
    need a feature the plan lost go first, then whatever is over the count."""
    kept = [s for s in subscriptions if plan.tick or not _needs_tick(s.item)]
    while kept and count(kept) > plan.symbols:
        kept.pop()
    return kept


def _needs_tick(item: dict) -> bool:
    return item.get("bar_type") == "tick" or bool(item.get("max_bars"))


def _item(item, position: int, plan: Plan) -> tuple[Subscription, str | None]:
    where = f"subscriptions[{position}]"
    if not isinstance(item, dict):
        raise Refused(f"{where} must be an object")
    code = item.get("code")
    if not isinstance(code, str) or not code.strip():
        raise Refused(f"{where}: 'code' is required (e.g. \"NASDAQ:AAPL\")")
    code = code.strip()
    if len(code) > MAX_CODE_LENGTH or not code.isprintable():
        raise Refused("Invalid Symbol Code")
    kind = item.get("type", "series")
    if kind not in TYPES:
        raise Refused(f'{where}: \'type\' must be "series" or "quote"')
    if kind == "quote":
        return Subscription(("quote", code), {"code": code, "type": "quote"}), None
    bar_type = item.get("bar_type", "minute")
    if bar_type not in BAR_TYPES:
        raise Refused(
            f"{where}: 'bar_type' must be one of {', '.join(sorted(BAR_TYPES))}"
        )
    interval = item.get("bar_interval", 1)
    if (
        isinstance(interval, bool)
        or not isinstance(interval, int)
        or not 1 <= interval <= MAX_BAR_INTERVAL
    ):
        raise Refused(
            f"{where}: 'bar_interval' must be a whole number from 1 to "
            f"{MAX_BAR_INTERVAL}"
        )
    if bar_type == "tick" and not plan.tick:
        raise Refused("Tick data is not included in your plan")
    if item.get("max_bars") and not plan.tick:
        raise Refused("max_bars is not included in your plan")
    out = {
        "code": code,
        "type": "series",
        "bar_type": bar_type,
        "bar_interval": interval,
    }
    for name in _OPTIONS:
        if name in item:
            if not isinstance(item[name], bool):
                raise Refused(f"{where}: '{name}' must be true or false")
            out[name] = item[name]
    for name in _HISTORY:
        if name in item:
            if not isinstance(item[name], bool):
                raise Refused(f"{where}: '{name}' must be true or false")
            out[name] = item[name]
    note = None
    if "max_dp" in item:
        out["max_dp"], note = _max_dp(item["max_dp"], plan, code)
    stream = ("series", code, bar_type, interval) + tuple(
        out.get(name) for name in _OPTIONS
    )
    return Subscription(stream, out), note


def _max_dp(value, plan: Plan, code: str) -> tuple[int, str | None]:
    """Invalid or too large values become the plan maximum, as upstream adjusts them."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return plan.max_dp, f"max_dp for {code} set to the plan maximum {plan.max_dp}"
    if value > plan.max_dp:
        return (
            plan.max_dp,
            f"max_dp for {code} lowered to the plan maximum {plan.max_dp}",
        )
    return value, None


def history_wanted(item: dict, plan: Plan) -> int:
    """How many bars the first message of a series subscription carries (upstream's
    rules: max_dp first, then max_bars, then recent_bars)."""
    if "max_dp" in item:
        return min(item["max_dp"], plan.max_dp)
    if item.get("max_bars"):
        return plan.max_dp
    return 100 if item.get("recent_bars", True) else 1
