"""Reads about members' market data WebSockets: the connections open right now (the
gateway's registry, across every web process). No writes here; disconnecting is
`members.services.streams`."""

import datetime as dt

from redis.exceptions import RedisError

from marketdata.live import registry
from members.errors import ServiceError
from members.models import Member

# The WebSocket gateway counts its refusals in UsageDay.refused under this prefix,
# beside the REST gateway's own codes.
WS_REFUSAL_PREFIX = "WS_"


class ConnectionsUnavailable(ServiceError):
    status, code = 503, "CONNECTIONS_UNAVAILABLE"


def member_connections(member: Member) -> list[dict]:
    """The member's open WebSocket connections, oldest first: id (pass it back to
    disconnect one), path, peer, opened_at (aware datetime), subscriptions (the
    items as accepted: code, type, bar_type, bar_interval, ...), messages and bytes
    delivered, behind (frames queued for a slow client)."""
    try:
        rows = registry.connections_of(member.pk)
    except (RedisError, OSError) as exc:
        raise ConnectionsUnavailable(
            "The open WebSocket connections cannot be listed right now (Redis is "
            "unreachable); try again shortly"
        ) from exc
    return [_connection(row) for row in rows]


def _connection(row: dict) -> dict:
    return {
        "id": str(row["id"]),
        "path": row["path"],
        "peer": row.get("peer") or "",
        "opened_at": dt.datetime.fromtimestamp(row["opened_at"], tz=dt.UTC),
        "subscriptions": [
            {**item, "label": subscription_label(item)}
            for item in row.get("subscriptions") or ()
        ],
        "messages": int(row.get("messages") or 0),
        "bytes": int(row.get("bytes") or 0),
        "behind": int(row.get("behind") or 0),
    }


def subscription_label(item: dict) -> str:
    """What a subscription streams, besides its code: "quote", "series, 1 minute"."""
    if item.get("type") == "quote":
        return "quote"
    interval, bar_type = item.get("bar_interval"), item.get("bar_type")
    if bar_type is None:
        return str(item.get("type") or "series")
    return f"series, {interval or 1} {bar_type}"


def is_websocket_refusal(reason: str) -> bool:
    return reason.startswith(WS_REFUSAL_PREFIX)
