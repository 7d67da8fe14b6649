"""The baseline for the gateway benchmark: a bare pass-through proxy on aiohttp's client,
with no auth, limits or metering. Run: python bench/bare_proxy.py PORT UPSTREAM_URL"""

import sys

import aiohttp
import uvicorn

UPSTREAM = sys.argv[2].rstrip("/")
session: aiohttp.ClientSession | None = None
PASS = {"content-type", "content-length"}


async def app(scope, receive, send):
    global session
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=256)
                )
                await send({"type": "lifespan.startup.complete"})
            else:
                await session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    headers = {
        k.decode(): v.decode() for k, v in scope["headers"] if k == b"authorization"
    }
    qs = scope["query_string"].decode()
    url = UPSTREAM + scope["path"] + (f"?{qs}" if qs else "")
    async with session.get(url, headers=headers) as response:
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [
                    (k.lower().encode(), v.encode())
                    for k, v in response.headers.items()
                    if k.lower() in PASS
                ],
            }
        )
        async for chunk in response.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
        # as the gateway is run by bench/gateway.py
        loop="uvloop",
        http="httptools",
    )
