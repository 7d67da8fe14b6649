"""Calling the REST API through a Django test client, as a JSON client would."""

import json

BASE = "/api/organization"


def send(client, method: str, path: str, body=None, **headers):
    """`method` on BASE + `path`, with `body` as JSON (no body for None)."""
    return getattr(client, method)(
        BASE + path,
        data=json.dumps(body) if body is not None else None,
        content_type="application/json",
        headers=headers,
    )


def post(client, path: str, body=None, **headers):
    return send(client, "post", path, body, **headers)
