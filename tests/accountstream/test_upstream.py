"""The gateway's upstream side against the sandbox's Aries: one session per member,
tokens refreshed before upstream's deadline, reconnects with fresh snapshots and no
lost fill, isolation of accounts under load, a link that can no longer authenticate."""

import asyncio
from collections import Counter
from decimal import Decimal

import httpx
import pytest

from tests.accountstream.conftest import AriesClient, post
from tests.sandbox.aries.conftest import place

pytestmark = pytest.mark.django_db(transaction=True)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 90))


def upstream_connections(aries: httpx.Client) -> list[dict]:
    return aries.get("/_sandbox/aries").json()["connections"]


def account_of(message: dict) -> str | None:
    payload = message.get("payload", {}) if isinstance(message, dict) else {}
    data = payload.get("data")
    if not isinstance(data, dict):
        return None
    target = payload.get("target")
    if isinstance(target, str) and target.startswith("account:"):
        return target[8:]
    return data.get("accountId")


async def buy(aries, account: str, qty: str, symbol: str = "AAPL") -> str:
    return await asyncio.to_thread(
        place, aries, account, "BUY", qty, symbol=symbol, type="MARKET"
    )


def filled(client: AriesClient) -> set[str]:
    """Orders the client knows to be filled: from order events, or from a snapshot."""
    done = {
        m["payload"]["data"]["ordId"]
        for m in client.events("account.order")
        if m["payload"]["data"]["ordStatus"] == "FILLED"
    }
    for m in client.frames.items:
        if m.get("type") == "subscribed" and "ordersV2" in m["payload"].get("data", {}):
            orders = m["payload"]["data"]["ordersV2"]
            done |= {o["ordId"] for o in orders if o["ordStatus"] == "FILLED"}
    return done


def test_one_upstream_session_serves_all_of_a_members_connections(
    gateway, linked_account, aries
):
    key, account = linked_account("ann")

    async def scenario():
        clients = [await AriesClient.open(gateway.url) for _ in range(3)]
        for client in clients:
            await client.auth(key)
            snapshot = await client.subscribe("account", {"accountId": account})
            assert snapshot["payload"]["data"]["account"]["accountNumber"] == account
        assert len(upstream_connections(aries)) == 1
        ord_id = await buy(aries, account, "1")
        for client in clients:
            await client.frames.wait_for(
                lambda m: (
                    m.get("payload", {}).get("data", {}).get("ordId") == ord_id
                    and m["payload"]["data"].get("ordStatus") == "FILLED"
                )
            )
        for client in clients:
            await client.close()
        await asyncio.sleep(1.0)  # the grace period (0.5 s) passes
        assert upstream_connections(aries) == []

    run(scenario())


def test_a_dropped_upstream_gives_fresh_snapshots_and_no_lost_fill(
    gateway, linked, aries
):
    key, user = linked("bob")
    account = user["account_ids"][0]

    async def scenario():
        client = await AriesClient.signed_in(gateway.url, key)
        first = await client.subscribe("account", {"accountId": account})
        orders = [await buy(aries, account, "2")]
        post(aries, "/_sandbox/aries", drop=True)
        orders.append(await buy(aries, account, "3"))  # while reconnecting
        # a fresh snapshot under the client's own subscribe id
        await client.frames.wait_for(
            lambda m: (
                m.get("type") == "subscribed"
                and m.get("id") == first["id"]
                and m is not first
            ),
            timeout=10,
        )
        orders.append(await buy(aries, account, "5"))
        await client.frames.wait_for(lambda m: filled(client) >= set(orders))
        await asyncio.sleep(0.3)  # the fill's position and balance events follow
        # the last snapshot and the events after it add up to the sandbox's positions
        state = aries.get(f"/_sandbox/aries/users/{user['user_id']}").json()
        truth = {
            p["symbol"]: Decimal(p["qty"])
            for p in state["accounts"][account]["positions"]
        }
        snapshots = [
            i
            for i, m in enumerate(client.frames.items)
            if m.get("type") == "subscribed"
        ]
        positions = {
            p["symbol"]: Decimal(p["qty"])
            for p in client.frames.items[snapshots[-1]]["payload"]["data"]["positions"]
        }
        for m in client.frames.items[snapshots[-1] :]:
            if m.get("payload", {}).get("name") == "account.position":
                data = m["payload"]["data"]
                positions[data["symbol"]] = Decimal(data["qty"])
        assert positions == truth == {"AAPL": Decimal("10")}
        await client.close()

    run(scenario())


def test_no_member_ever_sees_an_account_not_linked_to_them(gateway, linked, aries):
    # given: two members on separate brokerage users, and two members linked to
    # different accounts of one brokerage user
    key_a, user_a = linked("amy")
    key_b, user_b = linked("ben")
    shared = post(aries, "/_sandbox/aries/users", accounts=2)
    key_c, _ = linked("cid", user=shared, linked=[shared["account_ids"][0]])
    key_d, _ = linked("dee", user=shared, linked=[shared["account_ids"][1]])
    mine = {
        "amy": {user_a["account_ids"][0]},
        "ben": {user_b["account_ids"][0]},
        "cid": {shared["account_ids"][0]},
        "dee": {shared["account_ids"][1]},
    }
    keys = {"amy": key_a, "ben": key_b, "cid": key_c, "dee": key_d}
    every = sorted(a for accounts in mine.values() for a in accounts)

    async def scenario():
        clients = {}
        for name, key in keys.items():
            client = clients[name] = await AriesClient.open(gateway.url)
            await client.auth(key)
            for account in every:  # each tries every account: only its own is kept
                await client.subscribe("account", {"accountId": account})
                await client.subscribe(
                    "pnl", {"accountId": account, "startTime": "2024-01-01T00:00:00Z"}
                )
        # when: orders on every account, with upstream dropped in the middle
        placed = []
        for round_ in range(6):
            for account in every:
                placed.append(await buy(aries, account, "1"))
            if round_ == 2:
                post(aries, "/_sandbox/aries", drop=True)
        await asyncio.sleep(2.0)
        # then: each counts only events of its own account, and got some
        for name, client in clients.items():
            seen = Counter(
                account_of(m)
                for m in client.frames.items
                if m.get("type") in ("event", "subscribed") and account_of(m)
            )
            assert set(seen) == mine[name], (name, seen)
            assert filled(client), name
        for client in clients.values():
            await client.close()

    run(scenario())


def test_upstreams_refresh_warning_refreshes_the_link_and_reauthenticates(
    gateway, linked_account, aries
):
    from brokerage.models import BrokerageLink

    # given: upstream sessions of 1.5 s, warned 1 s ahead
    post(aries, "/_sandbox/aries", session_seconds=1.5, refresh_warning_seconds=1.0)
    key, account = linked_account("eve")
    before = BrokerageLink.objects.get(member__uid="eve").access_token_encrypted

    async def scenario():
        client = await AriesClient.signed_in(gateway.url, key)
        await client.subscribe("account", {"accountId": account})
        await asyncio.sleep(2.5)  # past the first upstream session's end
        ord_id = await buy(aries, account, "1")
        await client.frames.wait_for(lambda m: ord_id in filled(client))
        assert len(upstream_connections(aries)) == 1  # the same connection, re-authed
        assert not [m for m in client.frames.items if m.get("type") == "response"]
        await client.close()

    run(scenario())
    after = BrokerageLink.objects.get(member__uid="eve")
    assert after.access_token_encrypted != before and after.refreshed_at is not None


def test_a_link_that_can_no_longer_authenticate_is_said_and_shown(
    gateway, linked, aries, api
):
    key, user = linked("fox")
    account = user["account_ids"][0]

    async def scenario():
        client = await AriesClient.signed_in(gateway.url, key)
        await client.subscribe("account", {"accountId": account})
        # the brokerage revokes the user's tokens, refresh tokens included
        post(
            aries, "/_sandbox/aries", expire_token=user["user_id"], revoke_refresh=True
        )
        error = await client.frames.wait_for(
            lambda m: m.get("payload", {}).get("code") == "UPSTREAM_AUTH_FAILED",
            timeout=10,
        )
        assert "link" in error["payload"]["error"]
        assert (await client.frames.close_code())[0] == 1011

    run(scenario())
    shown = api.get("/api/organization/members/fox/brokerage").json()["brokerage"]
    assert shown["token_status"] == "failed"
    assert shown["failure"]["permanent"] is True
