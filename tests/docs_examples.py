"""The upstream docs' examples, verbatim, run against the sandbox and the gateway with
only their URL and key replaced."""

import asyncio
import textwrap

# From ../shared/upstream-docs/insightsentry-api.md, "WebSocket API", "Authentication",
# "Proven Working Example".
PYTHON_LIVE = textwrap.dedent(
    """
    import asyncio
    import websockets
    import json

    API_KEY = "your_rest_api_key_here"

    async def connect():
        uri = "wss://realtime.insightsentry.com/live"
        async with websockets.connect(uri) as websocket:
            subscription = {
                "api_key": API_KEY,
                "subscriptions": [
                    {
                        "code": "CME_MINI:MNQ1!",
                        "type": "series",
                        "bar_type": "minute",
                        "bar_interval": 1
                    }
                ]
            }
            await websocket.send(json.dumps(subscription))

            # Receive data
            response = await websocket.recv()
            data = json.loads(response)
            print(data)
    """
)


def run_python_live(ws_url: str, key: str) -> None:
    """Run the example against `ws_url` (ws://host:port/live) with `key`."""
    source = PYTHON_LIVE.replace("your_rest_api_key_here", key).replace(
        "wss://realtime.insightsentry.com/live", ws_url
    )
    namespace: dict = {}
    exec(compile(source, "docs_python_live_example", "exec"), namespace)  # noqa: S102
    asyncio.run(asyncio.wait_for(namespace["connect"](), 30))
