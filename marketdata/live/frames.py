"""Text frames of the WebSocket protocols (the gateways' own and the upstreams')."""

import json


def json_object(text: str | bytes) -> dict | None:
    """The JSON object a text frame carries, or None: not JSON, or not an object.
    Garbage is dropped, never forwarded."""
    try:
        message = json.loads(text)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None
