"""The limiter's rules, on the in-process limiter and (when REDIS_URL is set) on Redis."""

import asyncio
import os
import uuid

import pytest

from marketdata.limits import (
    MemoryLimiter,
    RedisLimiter,
    generation_key,
    redis_client,
)

NOW = 1_800_000_000_000  # ms


def needs_redis():
    if not os.environ.get("REDIS_URL"):
        pytest.skip("REDIS_URL not set")


@pytest.fixture(params=["memory", "redis", "redis-py"])
async def limiter(request):
    """The in-process limiter; the Redis one on its own connection (plain TCP and Unix
    sockets); the Redis one through redis-py (TLS)."""
    if request.param == "memory":
        yield MemoryLimiter()
        return
    needs_redis()
    client = redis_client(os.environ["REDIS_URL"])
    lim = RedisLimiter(client, wire=request.param == "redis")
    yield lim
    lim.close()
    await client.aclose()


def member() -> int:
    return uuid.uuid4().int % 10**12  # fresh keys in a shared Redis


async def check(
    limiter, member_id, *, now=NOW, rate=25, quota=0, gen="0", month="202603"
):
    return await limiter.check(
        member_id=member_id,
        rate_limit=rate,
        quota=quota,
        now_ms=now,
        month=month,
        generation=gen,
    )


async def test_exactly_the_rate_limit_passes_under_a_burst(limiter):
    m = member()
    decisions = await asyncio.gather(*(check(limiter, m) for _ in range(200)))
    assert sum(d.allowed for d in decisions) == 25
    refused = [d for d in decisions if not d.allowed]
    assert {d.reason for d in refused} == {"rate"}
    assert all(0 < d.reset_ms <= 60_000 for d in refused)


async def test_the_window_slides(limiter):
    m = member()
    for i in range(25):
        assert (await check(limiter, m, now=NOW + i * 1000)).allowed
    assert not (await check(limiter, m, now=NOW + 59_000)).allowed
    # the first request leaves the window 60 s after it was made
    assert (await check(limiter, m, now=NOW + 60_001)).allowed
    assert not (await check(limiter, m, now=NOW + 60_002)).allowed


async def test_quota_is_exact_and_refusals_do_not_count(limiter):
    m = member()
    results = []
    for i in range(12):
        results.append(
            await check(limiter, m, now=NOW + i * 10_000, rate=1000, quota=7)
        )
    assert [d.allowed for d in results] == [True] * 7 + [False] * 5
    assert {d.reason for d in results[7:]} == {"quota"}
    assert await limiter.quota_used(member_id=m, month="202603") == 7
    # a new month starts from zero
    assert (await check(limiter, m, rate=1000, quota=7, month="202604")).allowed


async def test_rate_refusals_do_not_use_quota(limiter):
    m = member()
    for _ in range(10):
        await check(limiter, m, rate=2, quota=5)
    assert await limiter.quota_used(member_id=m, month="202603") == 2


async def test_a_stale_generation_is_reported_not_counted(limiter):
    m = member()
    decision = await check(limiter, m, gen="stale-one")
    assert decision.reason == "stale" and not decision.allowed
    assert await limiter.quota_used(member_id=m, month="202603") == 0


async def test_many_members_generations_come_in_one_call(limiter):
    a, b = member(), member()
    before = await limiter.generations([a, b])
    if isinstance(limiter, MemoryLimiter):
        limiter.bump(a)
    else:  # what members.services.cache_events does on a change
        await limiter._redis.incr(generation_key("orgportal", a))

    after = await limiter.generations([a, b])

    assert after[0] != before[0] and after[1] == before[1]
    assert after == [await limiter.generation(a), await limiter.generation(b)]
    assert await limiter.generations([]) == []
