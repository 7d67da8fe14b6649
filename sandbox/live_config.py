"""Settings and rules of the simulated market data WebSockets (`sandbox.live`): the
control API's settings, and what a key may subscribe to.

`GET /_sandbox/live` shows the settings, `POST /_sandbox/live` changes them
(`sandbox.orgapi` mounts both).

Settings live in `SandboxState.live` (a `sandbox.state.live_settings.LiveConfig`) and
go back to their defaults with the state's reset. A POST body is validated as a whole
before anything changes; a bad value answers 400 INVALID_REQUEST naming the field, like
`/_sandbox/faults`.

Fields a POST takes:

- `updates_per_second` (0.1-1000): updates per second of every stream;
- `phases` ("spread" or "aligned"): streams tick at their own phase of the period (the
  default, as independent instruments do) or all at the same instant (the worst burst);
- `heartbeat_seconds`, `auth_timeout_seconds` (0.01-3600);
- `news_every_seconds` (0.05-86400, or null for synth's own cadence);
- `org_ws_symbols`, `org_ws_connections` (integers >= 0): the organization key's limits;
- `subscription_rate_limit` (integer >= 1) subscription messages per key in
  `subscription_rate_window_seconds` (0.01-86400);
- `refuse_seconds`, `stall_seconds` (0-86400, 0 ends it): refuse new upgrades with 503,
  or send nothing on open connections, for that long from now;
- `garbage_rate` (0-1): share of data frames replaced by a non-JSON text frame;
- actions, applied after the settings: `drop` (true: cut every open connection, no close
  frame) and `close_error` (a reason text, or true for the default one: every open
  connection gets `{"message": <text>}` then close code 1011 with that reason).

`parse_subscriptions` checks one subscription message against the key's plan
(`Access`): every item valid, tick data and `max_bars` only with the tick feature, and
at most the key's `websocket_symbols`, counting a series as one and quote codes as one
per started ten.
"""

import dataclasses
import math
import time
from collections.abc import Mapping
from typing import Any

from sandbox.live_streams import SeriesSpec
from sandbox.settings import (
    deadlines_json,
    flag,
    integer,
    is_integer_in,
    number,
    number_setting,
)
from sandbox.state.errors import invalid
from sandbox.state.live_settings import LiveConfig
from sandbox.state.members import Member
from sandbox.synth.bars import BAR_TYPES
from sandbox.synth.catalogue import lookup
from sandbox.synth.symbols import Symbol

__all__ = [
    "DEFAULT_CLOSE_ERROR",
    "Access",
    "LiveChanges",
    "Refused",
    "Wanted",
    "config_json",
    "parse_changes",
    "parse_subscriptions",
]

DEFAULT_CLOSE_ERROR = "Internal server error"
PHASES = ("spread", "aligned")
# A close frame's reason must fit in 123 bytes.
MAX_REASON_BYTES = 120

_NUMBERS: Mapping[str, tuple[float, float]] = {
    "updates_per_second": (0.1, 1000),
    "heartbeat_seconds": (0.01, 3600),
    "auth_timeout_seconds": (0.01, 3600),
    "subscription_rate_window_seconds": (0.01, 86_400),
    "refuse_seconds": (0, 86_400),
    "stall_seconds": (0, 86_400),
    "garbage_rate": (0, 1),
}
_INTEGERS: Mapping[str, tuple[int, int]] = {
    "org_ws_symbols": (0, 1_000_000),
    "org_ws_connections": (0, 1_000_000),
    "subscription_rate_limit": (1, 1_000_000),
}
_NEWS_EVERY = (0.05, 86_400)


@dataclasses.dataclass(frozen=True, slots=True)
class LiveChanges:
    """A validated POST: `LiveConfig` field changes, then the actions."""

    settings: dict[str, Any]
    drop: bool = False
    close_error: str | None = None


def _close_reason(value: Any) -> str:
    if value is True:
        return DEFAULT_CLOSE_ERROR
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value.encode()) > MAX_REASON_BYTES
    ):
        raise invalid(
            "close_error",
            f"'close_error' must be true or a text of 1 to {MAX_REASON_BYTES} bytes",
        )
    return value


def parse_changes(body: Mapping[str, Any], *, now: float | None = None) -> LiveChanges:
    """Validate a POST body; `now` (monotonic) anchors refuse/stall deadlines."""
    moment = time.monotonic() if now is None else now
    settings: dict[str, Any] = {}
    drop = False
    close_error = None
    for field, value in body.items():
        if field in _NUMBERS:
            settings |= number_setting(field, value, _NUMBERS[field], moment)
        elif field in _INTEGERS:
            settings[field] = integer(field, value, *_INTEGERS[field])
        elif field == "news_every_seconds":
            settings[field] = (
                None if value is None else number(field, value, *_NEWS_EVERY)
            )
        elif field == "phases":
            if value not in PHASES:
                raise invalid(field, '\'phases\' must be "spread" or "aligned"')
            settings[field] = value
        elif field == "drop":
            drop = flag(field, value)
        elif field == "close_error":
            if value is not False and value is not None:
                close_error = _close_reason(value)
        else:
            raise invalid(field, f"Unknown live setting '{field}'")
    return LiveChanges(settings, drop, close_error)


def config_json(config: LiveConfig, *, now: float | None = None) -> dict[str, Any]:
    """The settings as the control API shows them: deadlines as seconds left."""
    moment = time.monotonic() if now is None else now
    return {
        "updates_per_second": config.updates_per_second,
        "phases": config.phases,
        "heartbeat_seconds": config.heartbeat_seconds,
        "news_every_seconds": config.news_every_seconds,
        "auth_timeout_seconds": config.auth_timeout_seconds,
        "org_ws_symbols": config.org_ws_symbols,
        "org_ws_connections": config.org_ws_connections,
        "subscription_rate_limit": config.subscription_rate_limit,
        "subscription_rate_window_seconds": config.subscription_rate_window_seconds,
        **deadlines_json(config, moment),
        "garbage_rate": config.garbage_rate,
    }


# --- keys and subscriptions ------------------------------------------------------

MAX_ITEMS = 1_000  # subscription items one message may carry
MAX_BAR_INTERVAL = 1_000
QUOTES_PER_SUBSCRIPTION = 10
RECENT_BARS = 100
MAX_BARS = 30_000  # max_bars, and max_dp on plans with tick data
PLAN_MAX_DP = 1_000  # max_dp on other plans
_FLAGS = (
    ("extended", True),
    ("dadj", False),
    ("settlement", True),
    ("recent_bars", True),
    ("max_bars", False),
)


@dataclasses.dataclass(frozen=True, slots=True)
class Access:
    """Who a connection authenticated as: a member, or the organization (`member` is
    None: an enterprise data package key with every feature)."""

    id: str  # "org" or the member's uid
    key: str
    member: Member | None

    def symbols(self, config: LiveConfig) -> int:
        if self.member is None:
            return config.org_ws_symbols
        return self.member.plan.limits.websocket_symbols

    def connections(self, config: LiveConfig) -> int:
        if self.member is None:
            return config.org_ws_connections
        return self.member.plan.limits.websocket_connections

    @property
    def newsfeed(self) -> bool:
        return self.member is None or self.member.plan.limits.newsfeed

    @property
    def tick(self) -> bool:
        """Tick data, `max_bars` and a `max_dp` of up to 30,000."""
        return self.member is None or self.member.plan.features.tick


@dataclasses.dataclass(slots=True)
class Wanted:
    """A valid subscription message: series streams with their history sizes, quote
    symbols, and the accepted items as listed by the control API."""

    series: dict[tuple, tuple[SeriesSpec, int]]
    quotes: dict[str, Symbol]
    items: list[dict[str, Any]]


class Refused(Exception):
    """A subscription message refused whole, answered with `body`."""

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.body = {"message": message, **extra}


def _flag(item: Mapping[str, Any], name: str, default: bool) -> bool:
    value = item.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise Refused(f"Invalid {name}: must be true or false")


def _max_dp(value: Any, most: int) -> int:
    """`max_dp` as asked; anything invalid or too large is the plan's maximum."""
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
        if not number.is_integer():
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        return most
    return int(number) if 1 <= number <= most else most


def _interval(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not is_integer_in(value, 1, MAX_BAR_INTERVAL):
        raise Refused(
            f"Invalid bar_interval: must be an integer between 1 and {MAX_BAR_INTERVAL}"
        )
    return value


def parse_subscriptions(access: Access, raw: Any, config: LiveConfig) -> Wanted:
    """A subscription message's items, all valid and within the key's limit, or the
    refusal of the whole message."""
    if not isinstance(raw, list) or not raw:
        raise Refused("Subscriptions must be a non-empty array")
    if len(raw) > MAX_ITEMS:
        raise Refused(f"Too many subscriptions in one message: at most {MAX_ITEMS}")
    tick = access.tick
    most = MAX_BARS if tick else PLAN_MAX_DP
    wanted = Wanted({}, {}, [])
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("code"), str):
            raise Refused("Each subscription must be an object with a 'code'")
        symbol = lookup(item["code"])
        if symbol is None:
            raise Refused("Invalid Symbol Code", symbol=item["code"])
        kind = item.get("type") or "series"
        if kind == "quote":
            if symbol.code not in wanted.quotes:
                wanted.quotes[symbol.code] = symbol
                wanted.items.append({"code": symbol.code, "type": "quote"})
            continue
        if kind != "series":
            raise Refused("Invalid type: must be series or quote", symbol=symbol.code)
        bar_type = item.get("bar_type") or "minute"
        if not isinstance(bar_type, str) or bar_type.lower() not in BAR_TYPES:
            raise Refused(f"Invalid bar_type: must be one of {', '.join(BAR_TYPES)}")
        bar_type = bar_type.lower()
        interval = _interval(item.get("bar_interval", 1))
        flags = {name: _flag(item, name, default) for name, default in _FLAGS}
        if bar_type == "tick" and not tick:
            raise Refused("Tick data not in plan")
        if flags["max_bars"] and not tick:
            raise Refused("max_bars not in plan")
        if item.get("max_dp") is not None:
            count = _max_dp(item["max_dp"], most)
        elif flags["max_bars"]:
            count = MAX_BARS
        else:
            count = RECENT_BARS if flags["recent_bars"] else 1
        if bar_type == "tick":
            # Trades have no bar size or session options: one stream per symbol.
            spec = SeriesSpec(symbol, "tick", 1, True, False, False)
        else:
            spec = SeriesSpec(
                symbol,
                bar_type,
                interval,
                flags["extended"],
                flags["dadj"],
                flags["settlement"],
            )
        if spec.key in wanted.series:
            continue
        wanted.series[spec.key] = (spec, count)
        wanted.items.append(
            {
                "code": symbol.code,
                "type": "series",
                "bar_type": bar_type,
                "bar_interval": spec.interval,
                **flags,
                "history_bars": count,
            }
        )
    used = len(wanted.series) + math.ceil(len(wanted.quotes) / QUOTES_PER_SUBSCRIPTION)
    allowed = access.symbols(config)
    if used > allowed:
        raise Refused(f"Subscription limit exceeded: {allowed} allowed")
    return wanted
