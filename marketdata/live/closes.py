"""Every close code, close reason and status message the WebSocket gateway sends, in
one place. Status and error frames keep the upstream's shape, a JSON object with one
`message` key; close reasons say what happened in a few words (at most 123 bytes)."""

import json

# RFC 6455 codes where one fits; 4xxx (private use) where the client should tell apart
# causes no standard code names.
NORMAL = 1000
GOING_AWAY = 1001
POLICY = 1008
INTERNAL = 1011
TRY_AGAIN = 1013
SLOW = 4008  # the client fell too far behind


def message(text: str) -> str:
    """A status or error frame, as upstream writes them."""
    return json.dumps({"message": text})


CONNECTING = message("Connecting...")
CONNECTED = message("Connected to orgportal")
RECOVERED = message("Reconnected to the market data upstream; resubscribed")


def degraded(cause: str) -> str:
    return message(
        f"Market data upstream connection lost ({cause}); reconnecting, your "
        "subscriptions are kept"
    )


def too_many_messages(limit: int, window_s: int) -> str:
    return message(
        f"Rate limit exceeded: more than {limit} subscription messages in "
        f"{window_s // 60} minutes; this message was ignored, your data keeps flowing"
    )


def trimmed(limit: int, dropped: list[str]) -> str:
    return message(
        f"Your plan changed: subscriptions trimmed to {limit}; dropped "
        + ", ".join(dropped)
    )


def pool_full(codes: list[str]) -> str:
    return message(
        "The gateway's upstream capacity is full; not streaming "
        + ", ".join(codes)
        + " until capacity frees up"
    )


# (code, reason) pairs
INVALID_KEY = POLICY, "invalid api key"
KEY_REVOKED = POLICY, "api key revoked or rotated"
NEWSFEED_NOT_IN_PLAN = POLICY, "news feed not in plan"
LIMITS_UNAVAILABLE = (
    TRY_AGAIN,
    "usage limits cannot be checked right now; retry shortly",
)
UPSTREAM_REFUSED_KEY = (
    INTERNAL,
    "upstream refused this member's data key; the operator is told",
)
SHUTTING_DOWN = GOING_AWAY, "server restarting; reconnect"
DISCONNECTED_BY_OPERATOR = POLICY, "disconnected by the operator"


def first_message_timeout(seconds: float) -> tuple[int, str]:
    return POLICY, f"no subscription message within {seconds:g} s"


def member_refused(code: str) -> tuple[int, str]:
    """The member may not use data now (MEMBER_CANCELLED, MEMBER_EXPIRED, ...)."""
    return POLICY, code.lower().replace("_", " ")


def connection_limit(limit: int) -> tuple[int, str]:
    return POLICY, f"connection limit of {limit} reached"


def slow_client(pending: int) -> tuple[int, str]:
    return SLOW, f"client too slow: {pending} updates behind"
