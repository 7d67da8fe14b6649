"""The Aries accounts WebSocket protocol as the gateway speaks it to members' apps:
what a client may send (parsed and checked here, pure), and every frame the gateway
itself writes (authSuccess, refreshAuth, authExpired, authTimeout, error responses,
pong). Frames that come from upstream (snapshots, events) are passed through as sent.

Times follow the documentation: envelope `timestamp`s are RFC 3339 strings, auth event
payload timestamps and `expiresIn` / `expiresAt` are Unix milliseconds.
"""

import datetime as dt
import json
from dataclasses import dataclass

TOPICS = ("account", "pnl", "watchlist", "news")
ACCOUNT_TOPICS = ("account", "pnl")  # need params.accountId
INTERVALS = ("15s", "1m", "5m", "15m", "1h", "1d", "1mo")
DEFAULT_INTERVAL = "1m"
MAX_ID_CHARS = 128
MAX_FILTER_ITEMS = 100


class TokenFailed(Exception):
    """The member's brokerage token cannot be refreshed any more: only a new link
    revives the stream."""


class TokenRetry(Exception):
    """No fresh brokerage token right now (another process is refreshing it, or the
    brokerage did not answer): try again after a backoff."""


class Refused(Exception):
    """A request answered with an error response: `status`, `code` and a message."""

    def __init__(self, status: int, code: str, error: str) -> None:
        super().__init__(error)
        self.status, self.code, self.error = status, code, error


@dataclass(frozen=True, slots=True)
class Subscription:
    """One subscribe or unsubscribe request, checked. `key` names what it subscribes
    to (one upstream subscription serves every client with the same key); `params` go
    upstream as the client sent them, but for what the key needs."""

    topic: str
    params: dict
    key: tuple

    @property
    def account_id(self) -> str | None:
        return self.params.get("accountId")


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_ms() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp() * 1000)


def dumps(message: dict) -> str:
    return json.dumps(message, separators=(",", ":"))


# --- what clients send ---------------------------------------------------------------


def request_id(message: dict) -> str | None:
    """The id a reply is matched by: top level, else `payload.id` (both are seen)."""
    ident = message.get("id")
    if ident is None and isinstance(message.get("payload"), dict):
        ident = message["payload"].get("id")
    if isinstance(ident, int | float) and not isinstance(ident, bool):
        ident = str(ident)
    if not isinstance(ident, str) or len(ident) > MAX_ID_CHARS:
        return None
    return ident


def auth_token(message: dict) -> str | None:
    """The token of an auth request (`type` request, POST /auth), None if the message
    is not one. An auth request without a usable token gives ''."""
    if message.get("type") != "request":
        return None
    payload = message.get("payload")
    if not isinstance(payload, dict):
        return None
    method = payload.get("method")
    if not isinstance(method, str) or method.lower() != "post":
        return None
    if payload.get("path") != "/auth":
        return None
    body = payload.get("body")
    token = body.get("token") if isinstance(body, dict) else None
    return token if isinstance(token, str) else ""


def subscription(message: dict) -> Subscription:
    """The topic and params of a subscribe / unsubscribe request, checked as upstream
    checks them (same codes), or Refused."""
    payload = message.get("payload")
    if not isinstance(payload, dict):
        raise Refused(400, "UNKNOWN_TOPIC", "payload.topic is required")
    topic = payload.get("topic")
    if topic not in TOPICS:
        shown = topic if isinstance(topic, str) else json.dumps(topic)
        raise Refused(400, "UNKNOWN_TOPIC", f"unknown subscription topic: {shown}")
    params = payload.get("params")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise Refused(400, "UNKNOWN_TOPIC", "payload.params must be an object")
    if topic in ACCOUNT_TOPICS:
        account = params.get("accountId")
        if not isinstance(account, str) or not account or len(account) > MAX_ID_CHARS:
            raise Refused(400, "MISSING_ACCOUNT_ID", "accountId is required")
    if topic == "account":
        return Subscription(topic, {"accountId": account}, (topic, account))
    if topic == "pnl":
        interval = params.get("interval", DEFAULT_INTERVAL)
        if interval not in INTERVALS:
            raise Refused(
                400,
                "INVALID_INTERVAL",
                f"interval must be one of {', '.join(INTERVALS)}",
            )
        start = params.get("startTime")
        if message.get("type") == "subscribe" and not _rfc3339(start):
            raise Refused(
                400, "MISSING_START_TIME", "startTime is required (RFC3339 timestamp)"
            )
        kept = {"accountId": account, "interval": interval}
        if start is not None:
            kept["startTime"] = start
        return Subscription(topic, kept, (topic, account, interval))
    if topic == "news":
        kept = {}
        for name in ("symbols", "topics"):
            values = params.get(name)
            if values is None:
                continue
            if (
                not isinstance(values, list)
                or len(values) > MAX_FILTER_ITEMS
                or not all(isinstance(v, str) for v in values)
            ):
                raise Refused(400, "UNKNOWN_TOPIC", f"{name} must be a list of strings")
            kept[name] = sorted(set(values))
        # One upstream news subscription (all news) serves every filter.
        return Subscription(topic, kept, (topic,))
    return Subscription(topic, {}, (topic,))


def _rfc3339(value) -> bool:
    if not isinstance(value, str) or len(value) > 40:
        return False
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


# --- what the gateway writes ----------------------------------------------------------


def error(ident: str | None, status: int, code: str, message: str) -> str:
    return dumps(
        {
            "type": "response",
            "id": ident,
            "timestamp": now_rfc3339(),
            "payload": {"status": status, "error": message, "code": code},
        }
    )


def refused(ident: str | None, exc: Refused) -> str:
    return error(ident, exc.status, exc.code, exc.error)


def auth_success(ident: str | None, expires_in_ms: int) -> str:
    return dumps(
        {
            "type": "event",
            "payload": {
                "action": "authSuccess",
                "data": {"expiresIn": expires_in_ms},
                "id": ident,
                "timestamp": now_ms(),
            },
        }
    )


def _system(action: str, data: dict) -> str:
    return dumps(
        {
            "type": "event",
            "payload": {
                "action": action,
                "data": data,
                "id": "system",
                "timestamp": now_ms(),
            },
        }
    )


def refresh_warning(expires_in_ms: int, expires_at_ms: int) -> str:
    return _system(
        "refreshAuth", {"expiresIn": expires_in_ms, "expiresAt": expires_at_ms}
    )


def auth_expired() -> str:
    return _system("authExpired", {"error": "session expired"})


def auth_timeout() -> str:
    return _system("authTimeout", {"error": "authentication timeout"})


def pong(ident) -> str:
    return dumps({"type": "pong", "id": ident, "timestamp": now_rfc3339()})


def unsubscribed(ident: str | None, sub: Subscription) -> str:
    data = {"unsubscribed": True, "topic": sub.topic}
    if sub.account_id is not None:
        data["accountId"] = sub.account_id
    return dumps(
        {
            "type": "response",
            "id": ident,
            "timestamp": now_rfc3339(),
            "payload": {"status": 200, "data": data},
        }
    )
