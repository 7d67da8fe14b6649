"""The benchmark load: balance events at a set rate to every account subscription,
each account at its own phase, stamped to the millisecond, counted per connection."""

import asyncio
import datetime as dt
import json

from tests.sandbox.aries.conftest import (
    configure,
    new_user,
    open_session,
    overview,
    subscribe,
)
from tests.sandbox.helpers import frames_for


async def test_each_account_subscription_gets_the_set_rate_stamped_in_ms(
    control, ws_url
):
    # given: two users, each subscribed to its account
    users = [new_user(control) for _ in range(2)]
    conns = []
    for user in users:
        ws = await open_session(ws_url, user["access_token"])
        await subscribe(ws, "account", {"accountId": user["account_ids"][0]})
        conns.append(ws)

    # when: 50 events a second, measured over one second after a warm-up
    configure(control, load_events_per_second=50)
    warmup = await asyncio.gather(*(frames_for(ws, 0.5) for ws in conns))
    received = await asyncio.gather(*(frames_for(ws, 1.0) for ws in conns))
    configure(control, load_events_per_second=0)
    tail = await asyncio.gather(*(frames_for(ws, 0.1) for ws in conns))
    after = await asyncio.gather(*(frames_for(ws, 0.3) for ws in conns))

    # then: about 50 each, balance events of their own account, with ms stamps
    for user, frames in zip(users, received, strict=True):
        events = [json.loads(f) for f in frames]
        balances = [e for e in events if e["payload"].get("name") == "account.balance"]
        assert 45 <= len(balances) <= 55
        assert {e["payload"]["target"] for e in balances} == {
            f"account:{user['account_ids'][0]}"
        }
        stamps = [dt.datetime.fromisoformat(e["timestamp"]) for e in balances]
        assert all(s.microsecond % 1000 == 0 for s in stamps)
        assert len({s.microsecond for s in stamps}) > 1  # milliseconds, not seconds
        assert balances[0]["payload"]["data"]["accountId"] == user["account_ids"][0]
    assert after == [[], []]
    listed = {c["user_id"]: c["load_sent"] for c in overview(control)["connections"]}
    assert [listed[u["user_id"]] for u in users] == [
        sum('"account.balance"' in f for f in w + r + t)
        for w, r, t in zip(warmup, received, tail, strict=True)
    ]
    for ws in conns:
        await ws.close()
