"""Who may use the market data gateway, cached in-process.

Each gateway key's record (member, plan, limits, upstream key) is read through the ORM
once, off the hot path, and kept until the member changes: in-process listeners drop it
at once, and with Redis a per-member generation counter (checked in the same Redis call
that counts the request) makes every process reload it on its very next request.
"""

import datetime as dt
import time
from dataclasses import dataclass

from marketdata.db import in_thread
from members import tiers
from members.crypto import decrypt
from members.models import GatewayKey
from members.selectors import member_limits
from members.services import cache_events
from members.status import status_at

NEGATIVE_TTL_S = 2.0
NEGATIVE_MAX = 10_000


@dataclass(frozen=True)
class Access:
    member_id: int
    uid: str
    status: str  # as stored: active, cancelled, expired, deleted
    term_end: dt.datetime
    plan: str
    tier: str
    rate_limit: int
    quota: int
    newsfeed: bool
    data_points_max: int
    upstream_key: str
    generation: str
    websocket_symbols: int = 0  # subscriptions one /live connection may hold
    websocket_connections: int = 0  # concurrent /live connections

    def refusal(self, now: dt.datetime) -> tuple[str, str] | None:
        """(code, message) when the member may not use data now."""
        status = status_at(self.status, self.term_end, now)
        if status == "expired":
            return "MEMBER_EXPIRED", f"The subscription of {self.uid} expired; renew it"
        if status != "active":
            return (
                f"MEMBER_{self.status.upper()}",
                f"The subscription of {self.uid} is {self.status}",
            )
        return None


def _load(key_hash: str) -> tuple[Access | None, int | None]:
    key = (
        GatewayKey.objects.select_related("member", "member__plan")
        .filter(key_hash=key_hash, revoked_at=None)
        .first()
    )
    if key is None:
        return None, None
    member = key.member
    limits = member_limits(member)
    tier = member.plan.tier
    return (
        Access(
            member_id=member.pk,
            uid=member.uid,
            status=member.status,
            term_end=member.term_end,
            plan=member.plan.name,
            tier=tier,
            rate_limit=limits["rate_limit"],
            quota=limits["quota"],
            newsfeed=limits["newsfeed"],
            data_points_max=tiers.tier_features(tier).rest_data_points_max,
            upstream_key=decrypt(member.upstream_key_encrypted),
            generation="",
            websocket_symbols=limits["websocket_symbols"],
            websocket_connections=limits["websocket_connections"],
        ),
        member.pk,
    )


class AccessCache:
    def __init__(self, generation_of) -> None:
        self._by_hash: dict[str, Access] = {}
        self._hashes_of: dict[int, set[str]] = {}
        self._unknown: dict[str, float] = {}
        self._generation_of = generation_of  # async (member_id) -> str
        cache_events.listen(self.invalidate)

    def close(self) -> None:
        cache_events.unlisten(self.invalidate)

    def invalidate(self, member_id: int) -> None:
        for key_hash in self._hashes_of.pop(member_id, ()):
            self._by_hash.pop(key_hash, None)
        # A revoked key may have become valid again (rotate), so forget refusals too.
        self._unknown.clear()

    def cached(self, key_hash: str) -> Access | None:
        """The record when it is in the cache (no await on the hot path)."""
        return self._by_hash.get(key_hash)

    async def get(self, key_hash: str) -> Access | None:
        found = self._by_hash.get(key_hash)
        if found is not None:
            return found
        refused_until = self._unknown.get(key_hash)
        if refused_until is not None and refused_until > time.monotonic():
            return None
        return await self.reload(key_hash)

    async def reload(self, key_hash: str) -> Access | None:
        access, member_id = await in_thread(_load)(key_hash)
        if access is None:
            if len(self._unknown) > NEGATIVE_MAX:
                self._unknown.clear()
            self._unknown[key_hash] = time.monotonic() + NEGATIVE_TTL_S
            self._by_hash.pop(key_hash, None)
            return None
        # Read the generation, then the row again: a change committed in between bumps
        # the generation after this read, so the first request check sees it as stale.
        generation = await self._generation_of(member_id)
        access, _ = await in_thread(_load)(key_hash)
        if access is None:
            return None
        access = Access(**{**access.__dict__, "generation": generation})
        self._by_hash[key_hash] = access
        self._hashes_of.setdefault(member_id, set()).add(key_hash)
        return access
