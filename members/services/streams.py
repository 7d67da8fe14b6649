"""Operators' actions on members' open market data WebSocket connections."""

from django.db import transaction
from redis.exceptions import RedisError

from marketdata.live import registry
from members import stream_selectors
from members.errors import NotFound
from members.services.audit import audit_record
from members.services.operations import member_get_live


def member_connections_disconnect(
    *, uid: str, connection: str | None, actor: str
) -> list[dict]:
    """Close one open WebSocket connection of the member (its id from
    `stream_selectors.member_connections`) or, with `connection=None`, all of them;
    return the connections closed, as listed just before.

    The client is closed with 1008 "disconnected by the operator" within a moment;
    it may reconnect, as with any close (revoke its key or cancel the member to keep
    it out). "All" also reaches connections opened after the listing was read, so it
    is audited even when the listing was empty.
    """
    member = member_get_live(uid)
    listed = stream_selectors.member_connections(member)
    if connection is None:
        closing = listed
    else:
        closing = [c for c in listed if c["id"] == connection]
        if not closing:
            raise NotFound(
                f"{uid} has no open WebSocket connection {connection!r} (it may have "
                "closed already)",
                code="CONNECTION_NOT_FOUND",
                details={"uid": uid, "connection": connection},
            )
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="member.ws_disconnect",
            obj=("member", member.uid),
            before={"connections": [_audited(c) for c in closing]},
            after={"scope": "one" if connection else "all", "closed": len(closing)},
        )
        # The command is the action itself, not news about it, so it is sent inside
        # the transaction, last: if it cannot be sent, the audit row rolls back with
        # it. (After commit, a failure would leave a record of a disconnect that never
        # happened.)
        try:
            registry.disconnect(member.pk, connection)
        except (RedisError, OSError) as exc:
            raise stream_selectors.ConnectionsUnavailable(
                "The disconnect could not be sent (Redis is unreachable); nothing "
                "was closed. Try again shortly"
            ) from exc
    return closing


def _audited(connection: dict) -> dict:
    return {
        "id": connection["id"],
        "path": connection["path"],
        "peer": connection["peer"],
        "opened_at": connection["opened_at"].isoformat(),
        "subscriptions": [s.get("code") for s in connection["subscriptions"]],
        "messages": connection["messages"],
    }
