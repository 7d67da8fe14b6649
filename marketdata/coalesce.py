"""Identical requests in flight go upstream once; slow-changing answers are reused briefly.

Two requests are identical when they ask for the same path and query under the same
upstream key: the first leads (its call goes upstream, its answer streams to its client),
the others wait for that answer and get a copy. Answers (HTTP 200) of the slow-changing
endpoints in CACHEABLE are kept for MARKET_CACHE_TTL seconds and shared by every member:
the data does not depend on who asks. Either way each request has been counted against
its member's limits before it gets here.
"""

import asyncio
import re
import time
from collections.abc import Callable

from cachetools import TTLCache

from marketdata.upstream import UpstreamError

CACHEABLE = re.compile(
    r"^/v3/symbols/(search|exchanges|[^/]+/(info|session|contracts|fundamentals))$"
)
# Whether a path's answers may be cached (a match or None); its cache key is (path, qs).
cacheable = CACHEABLE.match
# Answers kept at most; past it the least recently used one is dropped.
CACHE_MAX = 5_000

# (status, headers, body) as the client got it, before the gateway's own headers.
Answer = tuple[int, list, bytes]


class Coalescer:
    """The flights in progress and the short-lived cache of one gateway.

    A flight: `lead(key)` makes this request the leader, unless another request leads
    (then None, and `leader(key)` is the answer to wait for). A leader ends its flight
    with `land` (its answer) or `fail`. Followers never go upstream: a leader that fails
    passes them its UpstreamError, or UPSTREAM_BROKEN when it broke off in any other
    way."""

    __slots__ = ("_inflight", "_cache")

    def __init__(
        self,
        ttl: float,
        maxsize: int = CACHE_MAX,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inflight: dict[tuple, asyncio.Future] = {}
        self._cache: TTLCache = TTLCache(maxsize=maxsize, ttl=ttl, timer=timer)

    # --- cache --------------------------------------------------------------------------

    def cached(self, cache_key: tuple[str, str]) -> Answer | None:
        return self._cache.get(cache_key)

    def needs_upstream(self, flight_key: tuple, path: str, qs: str) -> bool:
        """False when the cache or a flight in progress would answer this request."""
        if cacheable(path) and (path, qs) in self._cache:
            return False
        return flight_key not in self._inflight

    # --- flights ------------------------------------------------------------------------

    def leader(self, flight_key: tuple) -> asyncio.Future | None:
        """The flight to wait on (with asyncio.shield: it is shared) or None."""
        return self._inflight.get(flight_key)

    def lead(self, flight_key: tuple) -> asyncio.Future | None:
        """This request's flight, which it must `land` or `fail`; None when another
        request leads it (a speculative call already sent then answers on its own)."""
        inflight = self._inflight
        if flight_key in inflight:
            return None
        future = inflight[flight_key] = asyncio.get_running_loop().create_future()
        return future

    def land(
        self,
        flight_key: tuple,
        future: asyncio.Future | None,
        answer: Answer,
        cache_key,
    ) -> None:
        """The leader's answer: to its followers, and to the cache under `cache_key`
        (unless None) when it is a 200."""
        if future is not None:
            del self._inflight[flight_key]
            future.set_result(answer)
        if cache_key is not None and answer[0] == 200:
            self._cache[cache_key] = answer

    def fail(
        self, flight_key: tuple, future: asyncio.Future | None, exc: BaseException
    ) -> None:
        if future is None:
            return
        del self._inflight[flight_key]
        if not isinstance(exc, UpstreamError):
            exc = UpstreamError(
                502, "UPSTREAM_BROKEN", "The upstream connection broke mid-answer"
            )
        future.set_exception(exc)
        future.exception()  # retrieved: a flight nobody followed logs nothing
