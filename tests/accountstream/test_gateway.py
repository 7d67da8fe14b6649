"""`/v1/accounts/ws` end to end: an Aries client (as the documentation's examples)
against orgportal's gateway, the sandbox's Aries behind it."""

import asyncio

import httpx
import pytest

from tests.accountstream.conftest import AriesClient, post
from tests.sandbox.aries.conftest import place

pytestmark = pytest.mark.django_db(transaction=True)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def is_order(status: str, ord_id: str):
    def match(m) -> bool:
        payload = m.get("payload", {}) if isinstance(m, dict) else {}
        data = payload.get("data") or {}
        return (
            payload.get("name") == "account.order"
            and data.get("ordId") == ord_id
            and data.get("ordStatus") == status
        )

    return match


def test_the_documented_flow_works_with_the_gateway_key(gateway, linked_account, aries):
    key, account = linked_account("ann")

    async def scenario():
        client = await AriesClient.open(gateway.url)
        # auth with the gateway key, "POST" as some clients send it
        ok = await client.auth(key, method="POST")
        assert ok["type"] == "event" and ok["payload"]["action"] == "authSuccess"
        assert ok["payload"]["data"]["expiresIn"] == 3_900_000
        # the account topic: the snapshot under the client's own request id
        subscribed = await client.subscribe("account", {"accountId": account})
        assert subscribed["type"] == "subscribed"
        assert subscribed["payload"]["status"] == 200
        snapshot = subscribed["payload"]["data"]
        assert snapshot["account"]["accountNumber"] == account
        assert {"positions", "orders", "ordersV2"} <= snapshot.keys()
        # an order's lifecycle arrives as events
        ord_id = place(aries, account, "BUY", "3", type="MARKET")
        await client.frames.wait_for(is_order("FILLED", ord_id))
        await client.frames.wait_for(
            lambda m: m.get("payload", {}).get("name") == "account.position"
        )
        # ping / pong by id
        await client.send({"type": "ping", "id": "ping-001"})
        pong = await client.reply("ping-001")
        assert pong["type"] == "pong"
        # operators see it in /metrics
        text = httpx.get(f"{gateway.url}/metrics").text
        assert "orgportal_account_ws_connections 1.0" in text
        assert "orgportal_account_ws_upstream_sessions 1.0" in text
        routed = [
            ln
            for ln in text.splitlines()
            if ln.startswith("orgportal_account_ws_events_total ")
        ]
        assert float(routed[0].split()[1]) >= 3
        # unsubscribe
        done = await client.unsubscribe("account", {"accountId": account})
        assert done["payload"]["data"] == {
            "unsubscribed": True,
            "topic": "account",
            "accountId": account,
        }
        await client.close()

    run(scenario())


def test_accounts_not_linked_to_the_member_are_denied(gateway, linked):
    key, user = linked("bob", accounts=2)
    other_key, other = linked("cat")

    async def scenario():
        client = await AriesClient.signed_in(gateway.url, key)
        for topic, params in (
            ("account", {"accountId": other["account_ids"][0]}),
            (
                "pnl",
                {
                    "accountId": other["account_ids"][0],
                    "startTime": "2024-01-01T00:00:00Z",
                },
            ),
        ):
            denied = await client.subscribe(topic, params)
            assert denied["payload"]["code"] == "ACCESS_DENIED"
            assert denied["payload"]["status"] == 403
        await client.close()

    run(scenario())


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"topic": "badtopic"}, "UNKNOWN_TOPIC"),
        ({"topic": "account"}, "MISSING_ACCOUNT_ID"),
        ({"topic": "pnl", "params": {"accountId": "X"}}, "MISSING_START_TIME"),
        (
            {
                "topic": "pnl",
                "params": {
                    "accountId": "X",
                    "startTime": "2024-01-01T00:00:00Z",
                    "interval": "7m",
                },
            },
            "INVALID_INTERVAL",
        ),
    ],
)
def test_bad_subscriptions_get_the_documented_codes(gateway, linked, message, code):
    key, _ = linked("dan")

    async def scenario():
        client = await AriesClient.signed_in(gateway.url, key)
        await client.send({"type": "subscribe", "id": "req-9", "payload": message})
        error = await client.reply("req-9")
        assert error["type"] == "response"
        assert error["payload"]["code"] == code
        await client.close()

    run(scenario())


def test_auth_errors_and_the_deadline(gateway, linked, settings):
    settings.ACCOUNTS_WS_AUTH_SECONDS = 0.3
    key, _ = linked("eve")

    async def scenario():
        client = await AriesClient.open(gateway.url)
        # subscribing first is refused, a bad token too; the connection stays
        await client.send(
            {"type": "subscribe", "id": "early", "payload": {"topic": "watchlist"}}
        )
        assert (await client.reply("early"))["payload"]["code"] == "AUTH_REQUIRED"
        bad = await client.auth("not-a-key")
        assert bad["payload"]["code"] == "INVALID_TOKEN"
        assert bad["payload"]["status"] == 401
        # nothing valid within the deadline: authTimeout, then the close
        timeout = await client.frames.wait_for(
            lambda m: m.get("payload", {}).get("action") == "authTimeout"
        )
        assert timeout["payload"]["data"] == {"error": "authentication timeout"}
        code, _ = await client.frames.close_code()
        assert code == 1008

    run(scenario())


def test_a_member_without_a_link_or_news_is_refused(gateway, linked, member_key_only):
    from members.models import Member

    key, _ = linked("fay")
    Member.objects.filter(uid="fay").update(override_newsfeed=False)  # no news feed
    bare = member_key_only("gus")

    async def scenario():
        client = await AriesClient.open(gateway.url)
        refused = await client.auth(bare)
        assert refused["payload"]["code"] == "ACCESS_DENIED"
        assert "No brokerage account" in refused["payload"]["error"]
        assert (await client.frames.close_code())[0] == 1008
        client = await AriesClient.signed_in(gateway.url, key)
        news = await client.subscribe("news", {"symbols": ["AAPL"]})
        assert news["payload"]["code"] == "ACCESS_DENIED"
        watch = await client.subscribe("watchlist")
        assert watch["type"] == "subscribed"
        await client.close()

    run(scenario())


def test_the_gateways_session_warns_expires_and_reauth_extends(
    gateway, linked, settings
):
    settings.ACCOUNTS_WS_SESSION_SECONDS = 0.6
    settings.ACCOUNTS_WS_REFRESH_WARNING_SECONDS = 0.3
    key, _ = linked("hal")

    async def scenario():
        client = await AriesClient.signed_in(gateway.url, key)
        warning = await client.frames.wait_for(
            lambda m: m.get("payload", {}).get("action") == "refreshAuth"
        )
        assert warning["payload"]["data"]["expiresIn"] == 300
        await client.auth(key)  # extends: no expiry at the first session's end
        await asyncio.sleep(0.5)
        assert not [
            m
            for m in client.frames.items
            if m.get("payload", {}).get("action") == "authExpired"
        ]
        expired = await client.frames.wait_for(
            lambda m: m.get("payload", {}).get("action") == "authExpired"
        )
        assert expired["payload"]["data"] == {"error": "session expired"}
        assert (await client.frames.close_code())[0] == 1008

    run(scenario())


def test_decimals_pass_through_byte_for_byte(gateway, linked_account, aries):
    key, account = linked_account("ida")
    post(aries, "/_sandbox/aries/prices", symbol="AAPL", price="123456789.123456789")

    async def scenario():
        client = await AriesClient.signed_in(gateway.url, key)
        await client.subscribe("account", {"accountId": account})
        ord_id = place(aries, account, "BUY", "0.00000001", type="MARKET")
        await client.frames.wait_for(is_order("FILLED", ord_id))
        fills = [
            m["payload"]["data"]
            for m in client.events("account.order")
            if m["payload"]["data"]["ordId"] == ord_id
        ]
        assert fills[-1]["cumQty"] == "0.00000001"
        assert fills[-1]["avgPrice"] == "123456789.123456789"
        await client.close()

    run(scenario())


def test_a_client_that_reconnects_resubscribes_and_gets_a_fresh_snapshot(
    gateway, linked_account, aries
):
    key, account = linked_account("jon")

    async def scenario():
        client = await AriesClient.signed_in(gateway.url, key)
        await client.subscribe("account", {"accountId": account})
        await client.ws.close()  # the app's network drops; it connects again
        ord_id = place(aries, account, "BUY", "2", symbol="MSFT", type="MARKET")
        await asyncio.sleep(0.3)  # filled while the client was away
        client = await AriesClient.signed_in(gateway.url, key)
        snapshot = await client.subscribe("account", {"accountId": account})
        orders = {o["ordId"]: o for o in snapshot["payload"]["data"]["ordersV2"]}
        assert orders[ord_id]["ordStatus"] == "FILLED"
        positions = {
            p["symbol"]: p["qty"] for p in snapshot["payload"]["data"]["positions"]
        }
        assert positions == {"MSFT": "2"}
        await client.close()

    run(scenario())
