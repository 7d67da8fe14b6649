"""Per-member limits of `/live` that hold across web processes: concurrent connections
(leased slots) and subscription messages per five minutes. One Redis Lua call each with
REDIS_URL; in-process structures in the embedded default (one process, one event loop).

Connections hold a slot by lease: a slot is renewed every LEASE/3 seconds while its
connection is open and given back on close. A process that dies without closing (SIGKILL,
power loss) stops renewing, so its slots come back within LEASE seconds (settings
MARKET_WS_LEASE_SECONDS, 15 by default). Slot names start with the time they were taken,
so when a member's connection limit is lowered the newest connections are the ones that
lose their slots.
"""

import time
from collections import deque

_ACQUIRE = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local lease, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held = redis.call('ZSCORE', KEYS[1], ARGV[3])
if not held and redis.call('ZCARD', KEYS[1]) >= limit then return 0 end
if held and redis.call('ZCARD', KEYS[1]) > limit then
  local names = redis.call('ZRANGE', KEYS[1], 0, -1)
  table.sort(names)
  for i = limit + 1, #names do
    if names[i] == ARGV[3] then
      redis.call('ZREM', KEYS[1], ARGV[3])
      return 0
    end
  end
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
redis.call('PEXPIRE', KEYS[1], lease * 2)
return 1
"""

_COUNT_MESSAGE = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local window, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return 1
"""


def slot_name(connection_id: str) -> str:
    """A slot name that sorts by the time it was taken."""
    return f"{int(time.time() * 1000):015d}:{connection_id}"


MESSAGE_LIMIT = 300  # subscription messages per member ...
MESSAGE_WINDOW_S = 300  # ... in this many seconds (upstream's rule)


class RedisSlots:
    def __init__(self, client, prefix: str, lease_s: float) -> None:
        self._key = prefix
        self.lease_ms = int(lease_s * 1000)
        self._acquire = client.register_script(_ACQUIRE)
        self._count = client.register_script(_COUNT_MESSAGE)
        self._redis = client

    name = staticmethod(slot_name)

    async def hold(self, member_id: int, slot: str, limit: int) -> bool:
        """Take the slot or renew it; False when the member has no slot for it (over
        the limit, or the limit was lowered and this is among the newest)."""
        if limit <= 0:
            return False
        held = await self._acquire(
            keys=[f"{self._key}:wsconn:{member_id}"],
            args=[self.lease_ms, limit, slot],
        )
        return bool(held)

    async def release(self, member_id: int, slot: str) -> None:
        await self._redis.zrem(f"{self._key}:wsconn:{member_id}", slot)

    async def count_message(self, member_id: int, message_id: str) -> bool:
        """Count one subscription message; False (not counted) past the limit."""
        allowed = await self._count(
            keys=[f"{self._key}:wsmsg:{member_id}"],
            args=[MESSAGE_WINDOW_S * 1000, MESSAGE_LIMIT, message_id],
        )
        return bool(allowed)

    async def held(self, member_id: int) -> int:
        """Slots the member holds now (for operators' views)."""
        key = f"{self._key}:wsconn:{member_id}"
        now_ms = int(time.time() * 1000)
        return await self._redis.zcount(key, now_ms, "+inf")


class MemorySlots:
    """The same rules within one process (the embedded default)."""

    def __init__(self, lease_s: float) -> None:
        self.lease_ms = int(lease_s * 1000)
        self._slots: dict[int, dict[str, float]] = {}
        self._messages: dict[int, deque[float]] = {}

    name = staticmethod(slot_name)

    async def hold(self, member_id: int, slot: str, limit: int) -> bool:
        if limit <= 0:
            return False
        now = time.monotonic()
        slots = self._slots.setdefault(member_id, {})
        for name in [n for n, until in slots.items() if until <= now]:
            del slots[name]
        if slot not in slots and len(slots) >= limit:
            return False
        if slot in slots and slot in sorted(slots)[limit:]:
            del slots[slot]
            return False
        slots[slot] = now + self.lease_ms / 1000
        return True

    async def release(self, member_id: int, slot: str) -> None:
        slots = self._slots.get(member_id)
        if slots is not None:
            slots.pop(slot, None)
            if not slots:
                del self._slots[member_id]

    async def count_message(self, member_id: int, message_id: str) -> bool:
        now = time.monotonic()
        sent = self._messages.setdefault(member_id, deque())
        while sent and sent[0] <= now - MESSAGE_WINDOW_S:
            sent.popleft()
        if len(sent) >= MESSAGE_LIMIT:
            return False
        sent.append(now)
        return True

    async def held(self, member_id: int) -> int:
        now = time.monotonic()
        return sum(
            1 for until in self._slots.get(member_id, {}).values() if until > now
        )
