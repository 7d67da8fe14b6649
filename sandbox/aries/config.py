"""Settings and injected faults of the simulated Aries upstream, and validation of the
control API's `POST /_sandbox/aries` body (`sandbox.aries.control` serves it).

A body is validated whole before anything changes; a bad field raises 400
INVALID_REQUEST naming it (`sandbox.state.errors.invalid`). Settings go back to their defaults
with the sandbox state's reset.

Fields a POST takes:

- `auth_timeout_seconds` (0.01-3600, default 5): time to authenticate after connecting;
- `session_seconds` (0.01-86400, default 3900): a session's length from (re)auth;
- `refresh_warning_seconds` (0-86400, default 300): `refreshAuth` this long before the
  session ends (at once when it is longer than the session; never when 0);
- `token_seconds` (integer 1-31536000, default 3600): lifetime of new access tokens;
- `fill_step_seconds` (0.001-60, default 0.5): time between an order's lifecycle steps;
- `pnl_every_seconds` (0.01-3600, default 1): how often live P&L candles are sent;
- `synth_news` (bool, default true): publish `sandbox.synth`'s stories on `news`;
- `day_orders_expire_at` (RFC3339 timestamp or null): working DAY orders expire once
  the sandbox clock passes it;
- `load_events_per_second` (0-1000, default 0): benchmark load, `account.balance`
  events to every `account` subscription (`sandbox.aries.load`);
- faults: `stall_seconds`, `refuse_seconds` (0-86400, 0 ends it): send nothing on open
  connections, or answer new upgrades 503, for that long from now; `garbage_rate`
  (0-1): share of event frames replaced by a non-JSON frame;
- actions, after the settings: `drop` (true: cut every open connection without a close
  frame); `expire_token` (a user id or an access token: its access tokens become
  invalid now and connections authenticated with them get `authExpired` and close) with
  `revoke_refresh` (true: that user's refresh tokens are revoked too).
"""

import dataclasses
import datetime as dt
import time
from collections.abc import Mapping
from typing import Any

from sandbox.settings import deadlines_json, flag, integer, number_setting
from sandbox.state.errors import invalid

__all__ = ["AriesChanges", "AriesConfig", "config_json", "parse_changes"]


@dataclasses.dataclass(frozen=True, slots=True)
class AriesConfig:
    """Deadlines are `time.monotonic()` values."""

    auth_timeout_seconds: float = 5.0
    session_seconds: float = 3900.0
    refresh_warning_seconds: float = 300.0
    token_seconds: int = 3600
    fill_step_seconds: float = 0.5
    pnl_every_seconds: float = 1.0
    synth_news: bool = True
    day_orders_expire_at: dt.datetime | None = None
    garbage_rate: float = 0.0
    refuse_until: float = 0.0
    stall_until: float = 0.0
    # Benchmark load (sandbox.aries.load): balance events per second per account
    # subscription; 0 sends none.
    load_events_per_second: float = 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class AriesChanges:
    settings: dict[str, Any]
    drop: bool = False
    expire_token: str | None = None
    revoke_refresh: bool = False


_NUMBERS: Mapping[str, tuple[float, float]] = {
    "auth_timeout_seconds": (0.01, 3600),
    "session_seconds": (0.01, 86_400),
    "refresh_warning_seconds": (0, 86_400),
    "fill_step_seconds": (0.001, 60),
    "pnl_every_seconds": (0.01, 3600),
    "garbage_rate": (0, 1),
    "stall_seconds": (0, 86_400),
    "refuse_seconds": (0, 86_400),
    "load_events_per_second": (0, 1000),
}
_TOKEN_SECONDS = (1, 31_536_000)
_FLAGS = ("synth_news", "drop", "revoke_refresh")


def parse_time(value: Any) -> dt.datetime | None:
    """An RFC3339 timestamp (with a zone or Z) as an aware datetime; None if not one."""
    if not isinstance(value, str) or "T" not in value.upper():
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def parse_changes(body: Mapping[str, Any], *, now: float | None = None) -> AriesChanges:
    """Validate a POST body; `now` (monotonic) anchors the refuse/stall deadlines."""
    moment = time.monotonic() if now is None else now
    settings: dict[str, Any] = {}
    flags = {"drop": False, "revoke_refresh": False}
    expire_token = None
    for field, value in body.items():
        if field in _NUMBERS:
            settings |= number_setting(field, value, _NUMBERS[field], moment)
        elif field == "token_seconds":
            settings[field] = integer(field, value, *_TOKEN_SECONDS)
        elif field in _FLAGS:
            if field == "synth_news":
                settings[field] = flag(field, value)
            else:
                flags[field] = flag(field, value)
        elif field == "day_orders_expire_at":
            expires = None if value is None else parse_time(value)
            if value is not None and expires is None:
                raise invalid(
                    field,
                    f"'{field}' must be an RFC3339 timestamp with a zone, or null",
                )
            settings[field] = expires
        elif field == "expire_token":
            if not isinstance(value, str) or not value.strip():
                raise invalid(field, f"'{field}' must be a user id or an access token")
            expire_token = value.strip()
        else:
            raise invalid(field, f"Unknown Aries setting '{field}'")
    if flags["revoke_refresh"] and expire_token is None:
        raise invalid("revoke_refresh", "'revoke_refresh' needs 'expire_token'")
    return AriesChanges(settings, flags["drop"], expire_token, flags["revoke_refresh"])


def config_json(config: AriesConfig, *, now: float | None = None) -> dict[str, Any]:
    """The settings as the control API shows them: deadlines as seconds left."""
    moment = time.monotonic() if now is None else now
    expires = config.day_orders_expire_at
    return {
        "auth_timeout_seconds": config.auth_timeout_seconds,
        "session_seconds": config.session_seconds,
        "refresh_warning_seconds": config.refresh_warning_seconds,
        "token_seconds": config.token_seconds,
        "fill_step_seconds": config.fill_step_seconds,
        "pnl_every_seconds": config.pnl_every_seconds,
        "synth_news": config.synth_news,
        "day_orders_expire_at": (
            expires.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
            if expires is not None
            else None
        ),
        "garbage_rate": config.garbage_rate,
        "load_events_per_second": config.load_events_per_second,
        **deadlines_json(config, moment),
    }
