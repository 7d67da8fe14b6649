"""Coalescing and the short-lived cache: identical requests in flight go upstream once,
cached answers expire after their TTL, and a full cache drops one answer at a time.

The flight tests drive the real gateway (MarketGateway.__call__) against a local
upstream that counts its calls; only the runtime around it is a stand-in (a member record
in memory, the in-process limiter), so no database is involved."""

import asyncio
import datetime as dt
import hashlib

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from marketdata.access import Access
from marketdata.coalesce import Coalescer, cacheable
from marketdata.gateway import MarketGateway
from marketdata.limits import MemoryLimiter
from marketdata.metering import Meter
from marketdata.upstream import UpstreamError

KEY = "gateway-key"
QUOTES = "/v3/symbols/quotes"
INFO = "/v3/symbols/NASDAQ:AAPL/info"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Members:
    """The member cache, holding one member's record."""

    def __init__(self) -> None:
        self.record = Access(
            member_id=1,
            uid="m",
            status="active",
            term_end=dt.datetime.now(dt.UTC) + dt.timedelta(days=30),
            plan="mega",
            tier="mega",
            rate_limit=10_000,
            quota=0,
            newsfeed=True,
            data_points_max=30_000,
            upstream_key="upstream-key",
            generation="0",
        )

    def cached(self, key_hash: str) -> Access | None:
        return (
            self.record
            if key_hash == hashlib.sha256(KEY.encode()).hexdigest()
            else None
        )

    async def get(self, key_hash: str) -> Access | None:
        return self.cached(key_hash)


class StandInRuntime:
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.started = True
        self.session = session
        self.redis = None
        self.limiter = MemoryLimiter()
        self.access = Members()
        self.meter = Meter()

    async def startup(self) -> None:
        pass

    def spawn(self, coro):
        return asyncio.get_running_loop().create_task(coro)


class Upstream:
    """A market data upstream that counts calls and answers when released."""

    def __init__(self, status: int = 200) -> None:
        self.calls: list[str] = []
        self.status = status
        self.release = asyncio.Event()
        self.release.set()

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append(request.path_qs)
        await self.release.wait()
        return web.json_response({"path": request.path_qs}, status=self.status)


@pytest.fixture
async def upstream(settings):
    upstream = Upstream()
    app = web.Application()
    app.router.add_get("/{tail:.*}", upstream.handle)
    server = TestServer(app)
    await server.start_server()
    settings.UPSTREAM_MARKET_URL = str(server.make_url(""))
    yield upstream
    await server.close()


@pytest.fixture
async def gateway(upstream, settings):
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield MarketGateway(StandInRuntime(session))


async def call(gateway, path: str, query: str = "") -> tuple[int, dict, bytes]:
    """One request through the gateway: (status, headers, body)."""
    messages = []

    async def send(message) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": query.encode(),
        "headers": [(b"authorization", f"Bearer {KEY}".encode())],
    }
    await gateway(scope, None, send)
    start = messages[0]
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return start["status"], dict(start["headers"]), body


async def in_flight_together(gateway, upstream, queries: list[str]) -> list:
    """The answers to `queries` sent at once to an upstream that holds its answers until
    every request has arrived."""
    upstream.release.clear()
    requests = [asyncio.create_task(call(gateway, QUOTES, q)) for q in queries]
    await asyncio.sleep(0.1)
    upstream.release.set()
    return await asyncio.gather(*requests)


async def test_identical_requests_in_flight_go_upstream_once(gateway, upstream):
    # when
    answers = await in_flight_together(gateway, upstream, ["codes=NASDAQ:AAPL"] * 10)
    # then
    assert upstream.calls == ["/v3/symbols/quotes?codes=NASDAQ:AAPL"]
    assert {status for status, _, _ in answers} == {200}
    assert len({body for _, _, body in answers}) == 1
    assert sum(1 for _, headers, _ in answers if b"x-coalesced" in headers) == 9
    # every copy is counted and carries its own rate limit headers
    assert sorted(int(h[b"ratelimit-remaining"]) for _, h, _ in answers) == list(
        range(9_990, 10_000)
    )


async def test_different_requests_in_flight_each_go_upstream(gateway, upstream):
    queries = [f"codes=NASDAQ:{code}" for code in ("AAPL", "MSFT", "NVDA")]
    answers = await in_flight_together(gateway, upstream, queries)
    assert len(upstream.calls) == 3
    assert not any(b"x-coalesced" in headers for _, headers, _ in answers)


async def test_once_a_flight_has_landed_the_next_request_goes_upstream(
    gateway, upstream
):
    for _ in range(2):
        status, headers, _ = await call(gateway, QUOTES, "codes=NASDAQ:AAPL")
        assert status == 200 and b"x-coalesced" not in headers
    assert len(upstream.calls) == 2


async def test_followers_of_a_failed_flight_get_its_error(gateway, upstream):
    upstream.status = 503
    answers = await in_flight_together(gateway, upstream, ["codes=NASDAQ:AAPL"] * 4)
    assert len(upstream.calls) == 1
    assert {status for status, _, _ in answers} == {502}
    assert all(b'"code": "UPSTREAM_ERROR"' in body for _, _, body in answers)


async def test_slow_changing_answers_are_cached_for_the_ttl_read_at_start(
    gateway, upstream, settings
):
    # given: the TTL changed before the gateway starts
    settings.MARKET_CACHE_TTL = 60.0
    await call(gateway, INFO)
    # when / then: the same question again is a cache hit
    status, headers, _ = await call(gateway, INFO)
    assert (status, headers.get(b"x-cache")) == (200, b"hit")
    assert len(upstream.calls) == 1


async def test_with_no_ttl_nothing_is_cached(gateway, upstream, settings):
    settings.MARKET_CACHE_TTL = 0.0
    await call(gateway, INFO)
    status, headers, _ = await call(gateway, INFO)
    assert status == 200 and b"x-cache" not in headers
    assert len(upstream.calls) == 2


# --- the Coalescer itself --------------------------------------------------------------


def answer(n: int, status: int = 200):
    return status, [(b"content-type", b"application/json")], b'{"n": %d}' % n


def land(coalescer: Coalescer, path: str, qs: str, result) -> None:
    flight = ("upstream-key", path, qs)
    cache_key = (path, qs) if cacheable(path) else None
    coalescer.land(flight, coalescer.lead(flight), result, cache_key)


async def test_a_cached_answer_expires_after_its_ttl():
    clock = Clock()
    coalescer = Coalescer(ttl=30.0, timer=clock)
    land(coalescer, INFO, "", answer(1))
    clock.now += 29.9
    assert coalescer.cached((INFO, "")) == answer(1)
    assert not coalescer.needs_upstream(("other-key", INFO, ""), INFO, "")
    clock.now += 0.1
    assert coalescer.cached((INFO, "")) is None
    assert coalescer.needs_upstream(("other-key", INFO, ""), INFO, "")


async def test_only_successful_answers_of_cacheable_paths_are_cached():
    coalescer = Coalescer(ttl=30.0)
    land(coalescer, INFO, "", answer(1, status=404))
    land(coalescer, QUOTES, "codes=X", answer(2))
    assert coalescer.cached((INFO, "")) is None
    assert coalescer.cached((QUOTES, "codes=X")) is None
    assert cacheable("/v3/symbols/search") and not cacheable(QUOTES)


async def test_a_full_cache_drops_the_least_recently_used_answer_only():
    # given: a full cache of three, the first answer read again since
    coalescer = Coalescer(ttl=30.0, maxsize=3)
    for n, symbol in enumerate(("A", "B", "C")):
        land(coalescer, f"/v3/symbols/X:{symbol}/info", "", answer(n))
    assert coalescer.cached(("/v3/symbols/X:A/info", "")) == answer(0)
    # when
    land(coalescer, "/v3/symbols/X:D/info", "", answer(3))
    # then: B alone is gone
    assert coalescer.cached(("/v3/symbols/X:B/info", "")) is None
    assert coalescer.cached(("/v3/symbols/X:A/info", "")) == answer(0)
    assert coalescer.cached(("/v3/symbols/X:C/info", "")) == answer(2)
    assert coalescer.cached(("/v3/symbols/X:D/info", "")) == answer(3)


async def test_a_leader_that_breaks_off_tells_its_followers_the_upstream_broke():
    coalescer = Coalescer(ttl=30.0)
    flight = ("upstream-key", QUOTES, "")
    future = coalescer.lead(flight)
    follower = asyncio.ensure_future(asyncio.shield(coalescer.leader(flight)))
    coalescer.fail(flight, future, ConnectionResetError())
    with pytest.raises(UpstreamError) as broken:
        await follower
    assert (broken.value.status, broken.value.code) == (502, "UPSTREAM_BROKEN")
    assert coalescer.leader(flight) is None


async def test_a_late_leader_leaves_the_flight_in_progress_in_place():
    """A speculative call sent while another request led answers on its own."""
    coalescer = Coalescer(ttl=30.0)
    flight = ("upstream-key", INFO, "")
    first = coalescer.lead(flight)
    late = coalescer.lead(flight)
    assert late is None and coalescer.leader(flight) is first
    coalescer.land(flight, late, answer(2), (INFO, ""))
    assert coalescer.leader(flight) is first and not first.done()
    assert coalescer.cached((INFO, "")) == answer(2)
    coalescer.land(flight, first, answer(1), None)
    assert coalescer.leader(flight) is None and first.result() == answer(1)
