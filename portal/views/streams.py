"""A member's market data WebSockets in the portal: the usage charts and the open
connections panel on the member's page, and disconnecting connections."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from members import stream_selectors
from members.errors import ServiceError
from members.models import Member
from members.services import streams
from portal import charts, display
from portal.selectors.streams import member_stream_usage
from portal.views.common import actor, role_required, with_live_member

CONNECTION_ID_MAX = 200


def member_streams_context(member: Member) -> dict:
    """What the member's page shows about its WebSockets: the usage charts, the
    refusals by reason (REST and WebSocket) and the open connections."""
    usage = member_stream_usage(member)
    return {
        "ws_usage": usage,
        "ws_messages_chart": charts.bar_chart(
            usage["ws_messages"],
            title=f"WebSocket messages delivered per day to {member.uid}, last 30 "
            "days (UTC)",
            unit="messages",
        ),
        "ws_minutes_chart": charts.bar_chart(
            usage["ws_minutes"],
            title=f"WebSocket connection minutes per day of {member.uid}, last 30 "
            "days (UTC, summed over connections)",
            unit="minutes",
            fmt=display.decimal,
        ),
        # A deleted member's keys are revoked and its connections closed.
        **(
            connections_context(member)
            if member.status != Member.Status.DELETED
            else {}
        ),
    }


def connections_context(member: Member) -> dict:
    try:
        return {
            "connections": stream_selectors.member_connections(member),
            "connections_error": None,
        }
    except ServiceError as exc:
        return {"connections": [], "connections_error": exc.message}


@role_required("viewer")
@require_GET
@with_live_member()
def member_connections(request, uid: str, member: Member):
    """The open connections panel alone (htmx refreshes it in place)."""
    return render(
        request,
        "portal/members/_connections.html",
        {"member": member, **connections_context(member)},
    )


@role_required("admin")
@require_POST
@with_live_member()
def member_connections_disconnect(request, uid: str, member: Member):
    """Close one connection (`connection` = its id) or, without one, all of them."""
    connection = (request.POST.get("connection") or "").strip() or None
    if connection is not None and (
        len(connection) > CONNECTION_ID_MAX or not connection.isprintable()
    ):
        messages.error(request, "That is not a connection of this member.")
        return _back(uid)
    try:
        closed = streams.member_connections_disconnect(
            uid=uid, connection=connection, actor=actor(request)
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        if connection is not None:
            text = f"Disconnected the {closed[0]['path']} connection from " + (
                f"{closed[0]['peer']}." if closed[0]["peer"] else "an unknown peer."
            )
        elif closed:
            n = len(closed)
            text = f"Disconnected {n} WebSocket connection{'s' if n > 1 else ''}."
        else:
            text = "There were no open WebSocket connections to disconnect."
        if closed:
            text += f" Clients may reconnect; revoke the key to keep {uid} out."
        messages.success(request, text)
    return _back(uid)


def _back(uid: str):
    return redirect(reverse("portal:member", kwargs={"uid": uid}) + "#ws-connections")
