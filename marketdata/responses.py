"""What the gateway answers by itself, as raw ASGI messages.

Every error is the project's JSON error body (`{"error", "code", "details"}`) with its
HTTP status. Every request the limiter has counted (or refused) carries the RateLimit
headers: the IETF draft's `RateLimit-Policy` / `RateLimit` pair, and the older
`RateLimit-Limit`, `-Remaining`, `-Reset` trio.
"""

import json

JSON = (b"content-type", b"application/json")

# Refusals that need no figures: (status, code, message).
METHOD_NOT_ALLOWED = (405, "METHOD_NOT_ALLOWED", "The market data API is read-only")
MISSING_API_KEY = (
    401,
    "MISSING_API_KEY",
    "Send your gateway key as Authorization: Bearer <key>",
)
INVALID_API_KEY = (401, "INVALID_API_KEY", "Invalid or revoked gateway key")
MEMBER_CHANGING = (
    503,
    "MEMBER_CHANGING",
    "The member is being changed; retry in a moment",
)
LIMITS_UNAVAILABLE = (
    503,
    "LIMITS_UNAVAILABLE",
    "Usage limits cannot be checked right now; retry shortly",
)


def error(status: int, code: str, message: str, details: dict | None = None):
    """(status, headers, body) of a JSON error answer."""
    body = json.dumps(
        {"error": message, "code": code, "details": details or {}}
    ).encode()
    return status, [JSON, (b"content-length", str(len(body)).encode())], body


def reset_seconds(reset_ms: int) -> int:
    """Whole seconds until the window frees a request, rounded up, at least 1."""
    return max(1, -(-reset_ms // 1000))


def rate_limit_headers(limit: int, remaining: int, reset_ms: int) -> list:
    """The five RateLimit headers for a per-minute limit."""
    reset_s = max(1, -(-reset_ms // 1000))  # as reset_seconds(), without the call
    return [
        (b"ratelimit-policy", b'"minute";q=%d;w=60' % limit),
        (b"ratelimit", b'"minute";r=%d;t=%d' % (remaining, reset_s)),
        (b"ratelimit-limit", b"%d" % limit),
        (b"ratelimit-remaining", b"%d" % remaining),
        (b"ratelimit-reset", b"%d" % reset_s),
    ]


def quota_exceeded(quota: int, month: str):
    """(status, code, message, details) for a used-up monthly quota (month: YYYYMM)."""
    return (
        429,
        "QUOTA_EXCEEDED",
        f"The monthly quota of {quota:,} requests is used up",
        {"quota": quota, "month": f"{month[:4]}-{month[4:]}"},
    )


def rate_limited(limit: int, reset_s: int):
    """(status, code, message, details) for a full rate window."""
    return (
        429,
        "RATE_LIMITED",
        f"Rate limit of {limit} requests per minute exceeded; retry in {reset_s} s",
        {"limit": limit, "retry_after": reset_s},
    )


async def reply(send, status: int, headers: list, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def reply_copy(send, answer, extra: list, tag: tuple, method: str) -> None:
    """Answer with a copy of another request's (status, headers, body), its `extra`
    headers and a `tag` header saying where the copy came from."""
    status, headers, body = answer
    await reply(send, status, headers + extra + [tag], body if method == "GET" else b"")


async def refuse(send, status, code, message, details=None, extra=()) -> None:
    """Answer with the JSON error, `extra` headers after the body's own."""
    status, headers, body = error(status, code, message, details)
    await reply(send, status, headers + list(extra), body)
