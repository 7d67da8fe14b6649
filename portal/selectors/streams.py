"""A member's WebSocket traffic and refusals, for the member's page."""

import datetime as dt
from collections import Counter

from members.models import Member, UsageDay
from members.selectors import connection_minutes
from members.stream_selectors import is_websocket_refusal
from orgportal import clock
from portal.selectors.series import daily_series


def member_stream_usage(member: Member, *, days: int = 30) -> dict:
    """The portal's view of a member's WebSocket traffic and of its refusals (REST
    and WebSocket) over the last `days` UTC days, from one query."""
    today = clock.now().date()
    rows = UsageDay.objects.filter(
        member=member, day__gt=today - dt.timedelta(days=days)
    ).values_list("day", "ws_messages", "ws_connection_seconds", "refused")
    messages: dict[dt.date, int] = {}
    seconds: dict[dt.date, int] = {}
    refused: Counter = Counter()
    for day, ws_messages, ws_seconds, day_refused in rows:
        messages[day] = ws_messages
        seconds[day] = ws_seconds
        for reason, count in (day_refused or {}).items():
            refused[reason] += count
    minutes = {day: connection_minutes(s) for day, s in seconds.items()}
    return {
        "ws_messages": daily_series(messages, days=days, end=today),
        "ws_minutes": daily_series(minutes, days=days, end=today),
        "ws_messages_total": sum(messages.values()),
        "ws_minutes_total": connection_minutes(sum(seconds.values())),
        "refusals": [
            {
                "reason": reason,
                "gateway": "WebSocket" if is_websocket_refusal(reason) else "REST",
                "count": count,
            }
            for reason, count in sorted(refused.items(), key=lambda r: (-r[1], r[0]))
        ],
    }
