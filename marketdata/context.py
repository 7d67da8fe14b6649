"""One market data request as the gateway has read it, passed from check to check.

Built once per request after the key is known, so the gate, the limiter call and the
forward share what was parsed instead of parsing or passing it again. Slotted: one small
object per request, no per-instance dict.
"""

import asyncio
import datetime as dt
from dataclasses import dataclass

from marketdata.access import Access


@dataclass(slots=True, eq=False)
class RequestContext:
    send: object  # the ASGI send callable
    method: str  # GET or HEAD
    path: str
    key_hash: str  # SHA-256 of the gateway key, hex
    access: Access  # replaced when a stale record is reloaded
    query: list[tuple[str, str]]  # parsed, in the client's order
    raw_query: str  # as the client wrote it (latin-1)
    feature: str | None  # the plan feature the path needs, if any
    now: dt.datetime  # read once per request
    month: str  # the quota's month, YYYYMM (UTC)
    now_ms: int  # `now` in epoch milliseconds, for the rate window
    # A speculative upstream call not yet taken over by the forward: whoever holds the
    # request when it ends with one still here abandons it.
    pending: asyncio.Task | None = None
