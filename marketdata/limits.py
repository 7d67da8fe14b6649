"""Per-member rate limit (sliding 60-second window) and monthly quota, checked and
counted in one atomic step: one Redis Lua call in production, an in-process structure in
the embedded default. A refused request counts towards neither."""

import datetime as dt
import hashlib
import itertools
import os
import secrets
from collections import deque
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, ResponseError

from marketdata.resp import RespConnection

WINDOW_MS = 60_000
QUOTA_TTL_S = 40 * 86_400  # a month's counter outlives its month, then expires


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # "ok", "rate", "quota" or "stale"
    limit: int
    remaining: int
    reset_ms: int  # until the oldest request leaves the window
    quota_used: int = 0


def month_key(at: dt.datetime) -> str:
    """The month's key, YYYYMM in UTC: strftime's %Y%m at a fraction of its cost."""
    return f"{at.year:04d}{at.month:02d}"


_LUA = """
local gen = redis.call('GET', KEYS[3]) or '0'
if gen ~= ARGV[5] then return '-1 stale 0 0 0' end
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local quota = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return string.format('0 rate %d %d 0', count, tonumber(oldest[2]) + window - now)
end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if quota > 0 and used >= quota then
  return string.format('0 quota %d 0 %d', count, used)
end
redis.call('ZADD', KEYS[1], now, ARGV[6])
redis.call('PEXPIRE', KEYS[1], window)
used = redis.call('INCR', KEYS[2])
if used == 1 then redis.call('EXPIRE', KEYS[2], tonumber(ARGV[7])) end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return string.format('1 ok %d %d %d', count + 1, tonumber(oldest[2]) + window - now, used)
"""


def redis_client(url: str):
    """The gateway's asyncio redis-py client: generation reads on a cache miss, pub/sub,
    and the limiter's check where its own connection cannot be used (TLS). The check
    itself goes through RespConnection (see RedisLimiter)."""
    return aioredis.Redis.from_url(url, max_connections=1024, socket_timeout=5)


def generation_key(prefix: str, member_id: int) -> str:
    return f"{prefix}:gen:{member_id}"


class Limiter:
    """What both limiters answer. `_count` applies the rules once, counting the request
    when they allow it, and answers as the Lua script does: status (1 allowed, 0
    refused, -1 the generation is stale), reason, the requests in the window, ms until
    the oldest leaves it, and the month's quota used."""

    async def _count(
        self, member_id, rate_limit, quota, now_ms, month, generation
    ) -> tuple[int, str, int, int, int]:
        raise NotImplementedError

    async def check(
        self,
        *,
        member_id: int,
        rate_limit: int,
        quota: int,
        now_ms: int,
        month: str,
        generation: str,
    ) -> Decision:
        status, reason, count, reset, used = await self._count(
            member_id, rate_limit, quota, now_ms, month, generation
        )
        if status == -1:
            return Decision(False, "stale", rate_limit, 0, 0)
        return Decision(
            status == 1, reason, rate_limit, max(0, rate_limit - count), reset, used
        )


class RedisLimiter(Limiter):
    """Atomic across every web process sharing the Redis.

    The check is one EVALSHA (EVAL when the server has not seen the script yet, e.g.
    after a restart). Over plain TCP or a Unix socket it goes through a dedicated
    connection of this limiter (marketdata.resp) with the constant parts of the command
    encoded once; with TLS it goes through redis-py. Any failure raises a RedisError."""

    def __init__(self, client, prefix: str = "orgportal", *, wire: bool = True) -> None:
        self._redis = client
        self._key = prefix
        self._ids = itertools.count()
        # Members of the sliding window's sorted set: unique across processes and hosts.
        self._prefix = f"{os.getpid()}-{secrets.token_hex(6)}-".encode()
        self._wire = (
            RespConnection.like(client)
            if wire and RespConnection.supports(client)
            else None
        )
        self._script = None if self._wire else client.register_script(_LUA)
        sha = hashlib.sha1(_LUA.encode(), usedforsecurity=False).hexdigest().encode()
        # The command's constant head: an array of 13 (the command, the script or its
        # SHA1, the key count, 3 keys, 7 arguments), then the first three of them.
        head = b"*13\r\n"
        self._evalsha = head + _bulk(b"EVALSHA") + _bulk(sha) + _bulk(b"3")
        self._eval = head + _bulk(b"EVAL") + _bulk(_LUA.encode()) + _bulk(b"3")
        self._tail = _bulk(str(WINDOW_MS).encode()), _bulk(str(QUOTA_TTL_S).encode())
        self._keys: dict[tuple[int, str], bytes] = {}

    def close(self) -> None:
        if self._wire is not None:
            self._wire.close()

    async def generation(self, member_id: int) -> str:
        value = await self._redis.get(generation_key(self._key, member_id))
        return value.decode() if value else "0"

    async def generations(self, member_ids: list[int]) -> list[str]:
        """Several members' generations in one round trip (the streaming gateways'
        sweeps check every connected member's)."""
        if not member_ids:
            return []
        keys = [generation_key(self._key, m) for m in member_ids]
        values = await self._redis.mget(keys)
        return [v.decode() if v else "0" for v in values]

    def _encoded_keys(self, member_id: int, month: str) -> bytes:
        keys = self._keys.get((member_id, month))
        if keys is None:
            if len(self._keys) > 100_000:
                self._keys.clear()
            keys = self._keys[(member_id, month)] = b"".join(
                _bulk(k.encode())
                for k in (
                    f"{self._key}:rate:{member_id}",
                    f"{self._key}:quota:{member_id}:{month}",
                    generation_key(self._key, member_id),
                )
            )
        return keys

    def _arguments(self, member_id, rate_limit, quota, now_ms, month, generation):
        """The keys and arguments of the script, encoded (after the constant head)."""
        window, ttl = self._tail
        now, limit, quota = b"%d" % now_ms, b"%d" % rate_limit, b"%d" % quota
        generation = generation.encode()
        member = self._prefix + b"%d" % next(self._ids)
        # _bulk() of each, in one formatting step (this runs on every request)
        return (
            b"%s$%d\r\n%s\r\n%s$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n%s"
            % (
                self._encoded_keys(member_id, month),
                len(now),
                now,
                window,
                len(limit),
                limit,
                len(quota),
                quota,
                len(generation),
                generation,
                len(member),
                member,
                ttl,
            )
        )

    async def _run(self, member_id, rate_limit, quota, now_ms, month, generation):
        if self._wire is None:
            return await self._script(
                keys=[
                    f"{self._key}:rate:{member_id}",
                    f"{self._key}:quota:{member_id}:{month}",
                    generation_key(self._key, member_id),
                ],
                args=[
                    now_ms,
                    WINDOW_MS,
                    rate_limit,
                    quota,
                    generation,
                    self._prefix + b"%d" % next(self._ids),
                    QUOTA_TTL_S,
                ],
            )
        body = self._arguments(member_id, rate_limit, quota, now_ms, month, generation)
        try:
            return await self._wire.execute(self._evalsha + body)
        except NoScriptError:
            # Not run (so not counted): the server lost its script cache. EVAL runs it
            # and caches it again for the next EVALSHA.
            return await self._wire.execute(self._eval + body)

    async def _count(self, member_id, rate_limit, quota, now_ms, month, generation):
        reply = await self._run(member_id, rate_limit, quota, now_ms, month, generation)
        # One line, "allowed reason count reset_ms quota_used": one bulk string to
        # parse instead of an array of five.
        try:
            status, reason, count, reset, used = reply.split()
            status, count, reset, used = int(status), int(count), int(reset), int(used)
        except (AttributeError, TypeError, ValueError):
            raise ResponseError(f"unexpected limiter reply {reply!r:.100}") from None
        reason = reason if isinstance(reason, str) else reason.decode()
        return status, reason, count, reset, used

    async def quota_used(self, *, member_id: int, month: str) -> int:
        value = await self._redis.get(f"{self._key}:quota:{member_id}:{month}")
        return int(value or 0)


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


class MemoryLimiter(Limiter):
    """The same rules in one process (the embedded default). Safe because the event loop
    runs one check at a time: there is no await between reading and counting."""

    def __init__(self) -> None:
        self._windows: dict[int, deque[int]] = {}
        self._quota: dict[tuple[int, str], int] = {}
        self._generations: dict[int, int] = {}

    def bump(self, member_id: int) -> None:
        self._generations[member_id] = self._generations.get(member_id, 0) + 1

    async def generation(self, member_id: int) -> str:
        return str(self._generations.get(member_id, 0))

    async def generations(self, member_ids: list[int]) -> list[str]:
        return [str(self._generations.get(m, 0)) for m in member_ids]

    async def _count(self, member_id, rate_limit, quota, now_ms, month, generation):
        if str(self._generations.get(member_id, 0)) != generation:
            return -1, "stale", 0, 0, 0
        window = self._windows.setdefault(member_id, deque())
        while window and window[0] <= now_ms - WINDOW_MS:
            window.popleft()
        if len(window) >= rate_limit:
            return 0, "rate", len(window), window[0] + WINDOW_MS - now_ms, 0
        used = self._quota.get((member_id, month), 0)
        if quota > 0 and used >= quota:
            return 0, "quota", len(window), 0, used
        window.append(now_ms)
        self._quota[(member_id, month)] = used + 1
        return 1, "ok", len(window), window[0] + WINDOW_MS - now_ms, used + 1

    async def quota_used(self, *, member_id: int, month: str) -> int:
        return self._quota.get((member_id, month), 0)
