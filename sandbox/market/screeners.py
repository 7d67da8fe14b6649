"""The screener handler: `/screeners/{kind}`."""

from aiohttp import web

from sandbox.market.context import NOW_KEY, dumps, ms
from sandbox.market.params import delay_seconds, known_kind, param_int
from sandbox.synth.screeners import SCREENERS, screener


async def get_screener(request: web.Request) -> bytes:
    kind = known_kind(request, SCREENERS)
    limit = param_int(request.query, "limit", default=100, low=1, high=1000)
    delay = delay_seconds(request)
    now = request[NOW_KEY]
    rows = screener(kind, now, delay=delay)[:limit]
    return dumps(
        {
            "last_update": ms(now),
            "delay_seconds": delay,
            "total_items": len(rows),
            "data": rows,
        }
    )
