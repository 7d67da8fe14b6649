"""Changes to a member close or trim their account streams within 5 s: a rotated or
revoked key, a cancelled, expired or deleted member, a removed link, an account taken
off the link; in one process and across two on PostgreSQL and Redis."""

import asyncio
import datetime as dt
import time

import pytest

from brokerage.services import brokerage_link, brokerage_unlink
from members.models import Member
from members.services import cache_events, operations
from tests.accountstream.conftest import AriesClient, in_db_thread

pytestmark = pytest.mark.django_db(transaction=True)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 90))


async def streaming(url: str, key: str, account: str) -> AriesClient:
    client = await AriesClient.open(url)
    assert (await client.auth(key))["payload"]["action"] == "authSuccess"
    subscribed = await client.subscribe("account", {"accountId": account})
    assert subscribed["type"] == "subscribed"
    return client


def expire_in_a_second(uid: str) -> None:
    member = Member.objects.get(uid=uid)
    Member.objects.filter(pk=member.pk).update(
        term_end=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    )
    cache_events.member_changed(member.pk)


def test_changes_close_a_members_streams_within_5_s(gateway, linked):
    members = {uid: linked(uid) for uid in ("r1", "r2", "r3", "r4", "r5", "r6")}

    async def scenario():
        clients = {
            uid: await streaming(gateway.url, key, user["account_ids"][0])
            for uid, (key, user) in members.items()
        }
        change = in_db_thread
        await change(operations.member_key_rotate, uid="r1", actor="tests")
        await change(operations.member_cancel, uid="r2", actor="tests")
        await change(expire_in_a_second, "r3")
        await change(operations.member_keys_revoke, uid="r4", actor="tests")
        await change(operations.member_delete, uid="r5", actor="tests")
        await change(brokerage_unlink, uid="r6", actor="tests")
        started = time.monotonic()
        codes = {
            uid: (await c.frames.close_code(timeout=6))[0] for uid, c in clients.items()
        }
        assert time.monotonic() - started < 5
        assert set(codes.values()) == {1008}
        said = {
            uid: [
                m["payload"].get("code")
                for m in c.frames.items
                if m.get("type") == "response" and m.get("id") == "system"
            ]
            for uid, c in clients.items()
        }
        assert said["r6"] == ["ACCESS_DENIED"]
        assert all(said[uid] for uid in said)

    run(scenario())


def test_an_account_taken_off_the_link_ends_only_its_subscriptions(gateway, linked):
    key, user = linked("s1", accounts=2)
    kept, dropped = user["account_ids"]

    async def scenario():
        client = await streaming(gateway.url, key, kept)
        late = await client.subscribe("account", {"accountId": dropped})
        assert late["type"] == "subscribed"
        await in_db_thread(
            brokerage_link,
            uid="s1",
            access_token=user["access_token"],
            refresh_token=user["refresh_token"],
            account_ids=[kept],
            actor="tests",
        )
        ended = await client.frames.wait_for(
            lambda m: m.get("id") == late["id"] and m.get("type") == "response"
        )
        assert ended["payload"]["code"] == "ACCESS_DENIED"
        again = await client.subscribe("account", {"accountId": dropped})
        assert again["payload"]["code"] == "ACCESS_DENIED"
        still = await client.subscribe("account", {"accountId": kept})
        assert still["type"] == "subscribed"
        await client.close()

    run(scenario())
