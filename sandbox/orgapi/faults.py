"""Fault injection for the Organization API (and any simulated upstream mounted the
same way)."""

import asyncio

from aiohttp import web

from sandbox.market.gate import send_truncated
from sandbox.orgapi.context import Handler, state_of
from sandbox.state.faults import Faults


@web.middleware
async def fault_middleware(
    request: web.Request, handler: Handler
) -> web.StreamResponse:
    """Injects the configured faults: added latency; a 503 that applies nothing; or the
    request applied and its response held back so the caller times out unknowing, or
    cut off mid-body."""
    state = state_of(request)
    faults: Faults = state.faults
    if not faults.active or not faults.covers("org", request.method):
        return await handler(request)
    kind = await state.fault_begin(faults)
    response = await handler(request)
    if kind == "timeout":
        await asyncio.sleep(faults.hang_seconds)
    if kind == "drop" and isinstance(response, web.Response):
        body = response.body if isinstance(response.body, bytes) else b""
        return await send_truncated(
            request, body, status=response.status, headers=response.headers
        )
    return response
