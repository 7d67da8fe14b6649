"""Connection slots and the subscription message limit, in-process and on Redis."""

import asyncio
import os
import uuid

import pytest

from marketdata.live import slots as slots_module
from marketdata.live.slots import MemorySlots, RedisSlots


@pytest.fixture(params=["memory", "redis"])
async def slots(request):
    if request.param == "memory":
        yield MemorySlots(lease_s=0.3)
        return
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("needs REDIS_URL")
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    prefix = f"orgportal-test-slots-{uuid.uuid4().hex[:8]}"
    yield RedisSlots(client, prefix, lease_s=0.3)
    async for key in client.scan_iter(match=f"{prefix}:*"):
        await client.delete(key)
    await client.aclose()


async def test_exactly_the_limit_at_once(slots):
    names = [slots.name(str(i)) for i in range(10)]
    held = await asyncio.gather(*(slots.hold(1, n, 2) for n in names))
    assert held.count(True) == 2
    assert await slots.held(1) == 2


async def test_released_slots_are_free_again(slots):
    a, b = slots.name("a"), slots.name("b")
    assert await slots.hold(1, a, 1)
    assert not await slots.hold(1, b, 1)
    await slots.release(1, a)
    assert await slots.hold(1, b, 1)


async def test_an_unrenewed_slot_comes_back_after_the_lease(slots):
    assert await slots.hold(1, slots.name("dead"), 1)
    assert not await slots.hold(1, slots.name("new"), 1)
    await asyncio.sleep(0.35)
    assert await slots.hold(1, slots.name("new2"), 1)


async def test_renewing_keeps_the_slot_past_the_lease(slots):
    mine = slots.name("mine")
    assert await slots.hold(1, mine, 1)
    for _ in range(4):
        await asyncio.sleep(0.1)
        assert await slots.hold(1, mine, 1)
    assert not await slots.hold(1, slots.name("other"), 1)


async def test_a_lowered_limit_takes_the_newest_slots(slots):
    old = slots.name("old")
    assert await slots.hold(1, old, 2)
    await asyncio.sleep(0.002)
    new = slots.name("new")
    assert await slots.hold(1, new, 2)
    assert not await slots.hold(1, new, 1)  # renewed under the lower limit
    assert await slots.hold(1, old, 1)


async def test_zero_allows_no_connection(slots):
    assert not await slots.hold(1, slots.name("x"), 0)


async def test_members_do_not_share_slots(slots):
    assert await slots.hold(1, slots.name("a"), 1)
    assert await slots.hold(2, slots.name("b"), 1)


async def test_subscription_messages_limited_per_member(slots, monkeypatch):
    monkeypatch.setattr(slots_module, "MESSAGE_LIMIT", 5)
    answers = [await slots.count_message(1, f"m{i}") for i in range(8)]
    assert answers == [True] * 5 + [False] * 3
    assert await slots.count_message(2, "other")
