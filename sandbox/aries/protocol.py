"""The Aries accounts WebSocket's message shapes: what the server sends (envelopes,
auth events, responses, errors) and how a client's subscribe parameters are read.

Where the doc is silent:
- every reply to a request carries its `id` at the top level; auth events also carry it
  as `payload.id` (the doc's shape), so either way of matching works;
- envelope timestamps are RFC3339 UTC to the second; auth event timestamps Unix ms;
- errors beyond the doc's codes: 404 NOT_FOUND (a request to an unknown path), 405
  METHOD_NOT_ALLOWED (`/auth` with another method), 400 INVALID_PARAMS (news filters
  that are not lists of strings), 403 ACCESS_DENIED also for re-auth as another user,
  500 INTERNAL_ERROR (a sandbox bug; the connection stays); an unparsable `startTime`
  is 400 MISSING_START_TIME;
- `subscribed` echoes the params as understood (news filters upper-cased tickers,
  sorted; pnl with its interval); watchlist and news subscriptions carry no `data`;
- `unsubscribe` answers `unsubscribed: false` when there was no such subscription.
"""

import json
from typing import Any

from orgportal import clock
from sandbox.aries.accounts import timestamp
from sandbox.aries.config import parse_time
from sandbox.aries.news import MAX_FILTER_ITEMS, NewsFilter
from sandbox.aries.pnl import DEFAULT_INTERVAL, INTERVALS

__all__ = [
    "TOPICS",
    "Refusal",
    "auth_event",
    "dumps",
    "error",
    "event",
    "parse_subscription",
]

TOPICS = ("account", "pnl", "watchlist", "news")


def dumps(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


def now_ms() -> int:
    return int(clock.now().timestamp() * 1000)


def stamp() -> str:
    return timestamp(clock.now().timestamp())


def auth_event(action: str, data: dict[str, Any], request_id: Any = "system") -> dict:
    """authSuccess, refreshAuth, authExpired, authTimeout."""
    message: dict[str, Any] = {
        "type": "event",
        "payload": {
            "action": action,
            "data": data,
            "id": request_id,
            "timestamp": now_ms(),
        },
    }
    if request_id != "system":
        message["id"] = request_id
    return message


def response(request_id: Any, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "response",
        "id": request_id,
        "timestamp": stamp(),
        "payload": payload,
    }


def error(request_id: Any, status: int, code: str, message: str) -> dict[str, Any]:
    return response(request_id, {"status": status, "error": message, "code": code})


def subscribed(
    request_id: Any, topic: str, params: dict[str, Any], data: Any = None
) -> dict[str, Any]:
    payload: dict[str, Any] = {"status": 200, "topic": topic, "params": params}
    if data is not None:
        payload["data"] = data
    return {
        "type": "subscribed",
        "id": request_id,
        "timestamp": stamp(),
        "payload": payload,
    }


def event(
    topic: str, data: Any, *, name: str | None = None, target: str | None = None
) -> dict:
    payload: dict[str, Any] = {"topic": topic}
    if name is not None:
        payload["name"] = name
    if target is not None:
        payload["target"] = target
    payload["data"] = data
    return {"type": "event", "timestamp": stamp(), "payload": payload}


def pong(request_id: Any) -> dict[str, Any]:
    return {"type": "pong", "id": request_id, "timestamp": stamp()}


class Refusal(Exception):
    """A request answered with an error response."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _strings(params: dict[str, Any], field: str) -> list[str]:
    value = params.get(field)
    if value is None:
        return []
    if (
        not isinstance(value, list)
        or len(value) > MAX_FILTER_ITEMS
        or not all(isinstance(item, str) and item.strip() for item in value)
    ):
        raise Refusal(
            400,
            "INVALID_PARAMS",
            f"{field} must be an array of at most {MAX_FILTER_ITEMS} strings",
        )
    return value


def parse_subscription(payload: Any) -> tuple[str, dict[str, Any], Any]:
    """A subscribe payload's topic, its normalised params and what the topic needs:
    the account id (`account`), (account id, start, interval) for `pnl`, the
    `NewsFilter` for `news`. Ownership is checked by the caller."""
    if not isinstance(payload, dict):
        payload = {}
    topic = payload.get("topic")
    if topic not in TOPICS:
        raise Refusal(400, "UNKNOWN_TOPIC", f"unknown subscription topic: {topic}")
    params = payload.get("params")
    if not isinstance(params, dict):
        params = {}
    if topic == "watchlist":
        return topic, {}, None
    if topic == "news":
        wanted = NewsFilter.of(_strings(params, "symbols"), _strings(params, "topics"))
        return topic, wanted.as_params(), wanted
    account_id = params.get("accountId")
    if not isinstance(account_id, str) or not account_id:
        raise Refusal(400, "MISSING_ACCOUNT_ID", "accountId is required")
    if topic == "account":
        return topic, {"accountId": account_id}, account_id
    return topic, params, account_id


def parse_pnl(params: dict[str, Any]) -> tuple[float, str]:
    """`pnl`'s start (Unix seconds) and interval, after the account is checked."""
    raw = params.get("startTime")
    if raw is None or raw == "":
        raise Refusal(400, "MISSING_START_TIME", "startTime is required")
    start = parse_time(raw)
    if start is None:
        raise Refusal(
            400, "MISSING_START_TIME", "startTime must be an RFC3339 timestamp"
        )
    interval = params.get("interval", DEFAULT_INTERVAL)
    if interval not in INTERVALS:
        raise Refusal(
            400,
            "INVALID_INTERVAL",
            f"invalid interval: {interval}; use one of {', '.join(INTERVALS)}",
        )
    return start.timestamp(), interval
