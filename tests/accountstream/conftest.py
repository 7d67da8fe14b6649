"""The account stream gateway under test: orgportal's web process in a thread, the
sandbox's Aries upstream, members linked to sandbox brokerage users through the
brokerage service, and a client written as the Aries documentation's examples are."""

import asyncio
import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.marketdata.conftest import web_server
from tests.marketdata.live_helpers import Frames
from tests.sandbox.helpers import post_ok

PATH = "/v1/accounts/ws"


@pytest.fixture
def aries(sandbox, settings):
    """The sandbox's Aries over HTTP (control API, token endpoint), fast lifecycles."""
    settings.UPSTREAM_ARIES_URL = sandbox.url
    settings.UPSTREAM_ARIES_WS_URL = sandbox.url.replace("http://", "ws://") + PATH
    settings.ACCOUNTS_WS_UPSTREAM_GRACE_SECONDS = 0.5
    settings.ACCOUNTS_WS_BACKOFF_BASE = 0.05
    settings.ACCOUNTS_WS_BACKOFF_CAP = 0.2
    with httpx.Client(base_url=sandbox.url, timeout=5) as client:
        post(client, "/_sandbox/aries", fill_step_seconds=0.02, pnl_every_seconds=0.05)
        yield client


async def in_db_thread(fn, *args, **kwargs):
    """`fn` in a worker thread that gives its database connection back after (a
    connection left open in a finished thread keeps the test database busy)."""
    from django.db import connections

    def run():
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()

    return await asyncio.to_thread(run)


def post(client: httpx.Client, path: str, **body: Any) -> dict:
    return post_ok(client, path, body)


@pytest.fixture
def gateway(transactional_db, aries, settings):
    yield from web_server(settings)


@pytest.fixture
def linked(transactional_db, aries):
    """A member on a plan, linked to a new sandbox brokerage user: (gateway key, the
    user as the sandbox answered). `accounts` of the user's accounts are linked."""
    from billing.services import ledger
    from brokerage.services import brokerage_link
    from members.services import operations
    from members.services.plans import plans_sync

    plans_sync()
    ledger.credits_purchase(credits=1000, actor="tests")

    def make(uid: str, plan: str = "pro", *, accounts: int = 1, user=None, linked=None):
        key = operations.member_create(uid=uid, plan=plan, actor="tests").api_key
        user = user or post(aries, "/_sandbox/aries/users", accounts=accounts)
        brokerage_link(
            uid=uid,
            access_token=user["access_token"],
            refresh_token=user["refresh_token"],
            account_ids=linked if linked is not None else user["account_ids"],
            actor="tests",
        )
        return key, user

    return make


@pytest.fixture
def linked_account(linked):
    """linked_account(uid) -> the gateway key of a new member linked to a new Aries
    user of one account, and that account's id."""

    def make(uid: str) -> tuple[str, str]:
        key, user = linked(uid)
        return key, user["account_ids"][0]

    return make


@pytest.fixture
def member_key_only(linked):
    """A member with no brokerage link: its gateway key."""
    from members.services import operations

    return lambda uid, plan="pro": (
        operations.member_create(uid=uid, plan=plan, actor="tests").api_key
    )


class AriesClient:
    """What an Aries app does, as the documentation's examples show it."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.frames = Frames(ws)
        self._ids = 0

    @classmethod
    async def open(cls, url: str) -> "AriesClient":
        ws = await connect(url.replace("http://", "ws://") + PATH, max_size=None)
        return cls(ws)

    @classmethod
    async def signed_in(cls, url: str, key: str) -> "AriesClient":
        """A connection past authentication with `key`."""
        client = await cls.open(url)
        await client.auth(key)
        return client

    def next_id(self, prefix: str = "req") -> str:
        self._ids += 1
        return f"{prefix}-{self._ids:03d}"

    async def send(self, message: dict) -> None:
        await self.ws.send(json.dumps(message))

    async def auth(self, token: str, method: str = "post") -> dict:
        ident = self.next_id("auth")
        await self.send(
            {
                "type": "request",
                "id": ident,
                "payload": {
                    "method": method,
                    "path": "/auth",
                    "body": {"token": token},
                },
            }
        )
        return await self.reply(ident)

    async def subscribe(self, topic: str, params: dict | None = None) -> dict:
        ident = self.next_id()
        payload: dict = {"topic": topic}
        if params is not None:
            payload["params"] = params
        await self.send({"type": "subscribe", "id": ident, "payload": payload})
        return await self.reply(ident)

    async def unsubscribe(self, topic: str, params: dict | None = None) -> dict:
        ident = self.next_id()
        payload: dict = {"topic": topic}
        if params is not None:
            payload["params"] = params
        await self.send({"type": "unsubscribe", "id": ident, "payload": payload})
        return await self.reply(ident)

    async def reply(self, ident: str, timeout: float = 5.0) -> dict:
        return await self.frames.wait_for(
            lambda m: (
                isinstance(m, dict)
                and (m.get("id") == ident or m.get("payload", {}).get("id") == ident)
            ),
            timeout,
        )

    def events(self, name: str | None = None) -> list[dict]:
        return [
            m
            for m in self.frames.items
            if isinstance(m, dict)
            and m.get("type") == "event"
            and "action" not in m.get("payload", {})
            and (name is None or m["payload"].get("name") == name)
        ]

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.sleep(0)
