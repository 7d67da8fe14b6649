"""Speculative forwarding: with a recent verdict showing headroom, the upstream call
starts beside the limiter's Redis call, and its answer reaches the client only once the
limiter allows it. Real servers throughout: the web application (uvicorn, in a thread),
the sandbox upstream, and a real Redis (through a TCP relay the test can cut)."""

import datetime as dt
import socket
import threading
import time

import httpx
import pytest
import redis
from prometheus_client import REGISTRY

from members.models import GatewayKey, Member
from tests.marketdata.conftest import ThreadedServer, free_port, reachable_redis_url

pytestmark = pytest.mark.django_db(transaction=True)
QUOTES = "/v3/symbols/quotes?codes=NASDAQ:AAPL"


REDIS_URL = reachable_redis_url()
if REDIS_URL is None:
    pytestmark = [pytestmark, pytest.mark.skip(reason="needs a Redis")]


class Relay:
    """A TCP relay in front of Redis; cut() breaks every connection and the listener."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        self.listener.close()
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def speculative(outcome: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "orgportal_market_speculative_calls_total", {"outcome": outcome}
        )
        or 0.0
    )


@pytest.fixture
def redis_web(transactional_db, sandbox, settings):
    """The web application with the Redis limiter (so with speculation)."""
    from orgportal.asgi import application

    settings.UPSTREAM_MARKET_URL = sandbox.url
    settings.USAGE_FLUSH_INTERVAL = 0.2
    settings.REDIS_URL = REDIS_URL
    server = ThreadedServer(application).start()
    yield server
    server.stop()


def call(web, key, path=QUOTES):
    return httpx.get(
        web.url + path, headers={"Authorization": f"Bearer {key}"}, timeout=10
    )


def test_with_headroom_the_upstream_call_starts_beside_the_limiter(
    redis_web, member_key
):
    key = member_key("m", "mega")
    first = call(redis_web, key)  # no verdict remembered yet: count, then forward
    before = speculative("forwarded"), speculative("wasted")
    answers = [call(redis_web, key) for _ in range(3)]
    assert first.status_code == 200
    assert [a.status_code for a in answers] == [200] * 3
    assert all(a.json()["data"][0]["code"] == "NASDAQ:AAPL" for a in answers)
    assert speculative("forwarded") - before[0] == 3
    assert speculative("wasted") == before[1]
    # counted as usual: the rate limit headers went down one per request
    assert [int(a.headers["ratelimit-remaining"]) for a in answers] == sorted(
        (int(a.headers["ratelimit-remaining"]) for a in answers), reverse=True
    )


def test_cached_answers_keep_the_plain_order(redis_web, member_key):
    key = member_key("m", "mega")
    path = "/v3/symbols/NASDAQ:AAPL/info"
    call(redis_web, key, path)
    before = speculative("forwarded")
    r = call(redis_web, key, path)
    assert (r.status_code, r.headers.get("x-cache")) == (200, "hit")
    assert speculative("forwarded") == before  # a cache hit needs no upstream call


def test_low_headroom_does_not_speculate(redis_web, member_key, settings):
    key = member_key("p", "pro")  # 25 a minute: speculation needs 5 left
    member_id = Member.objects.get(uid="p").pk
    client = redis.Redis.from_url(REDIS_URL)
    now_ms = int(time.time() * 1000)
    client.zadd(
        f"{settings.REDIS_KEY_PREFIX}:rate:{member_id}",
        {f"other-{i}": now_ms for i in range(20)},
    )
    before = speculative("forwarded"), speculative("wasted")
    answers = [call(redis_web, key).status_code for _ in range(7)]
    assert answers == [200] * 5 + [429] * 2
    assert (speculative("forwarded"), speculative("wasted")) == before


def test_a_refusal_after_speculation_is_answered_as_today(
    redis_web, member_key, sandbox, settings, api
):
    key = member_key("p", "pro")  # 25 a minute
    member_id = Member.objects.get(uid="p").pk
    assert call(redis_web, key).status_code == 200  # 24 left: headroom
    # Another process uses up the window meanwhile; the upstream is slow, so the
    # speculative call is still in flight when the refusal comes.
    client = redis.Redis.from_url(REDIS_URL)
    now_ms = int(time.time() * 1000)
    client.zadd(
        f"{settings.REDIS_KEY_PREFIX}:rate:{member_id}",
        {f"other-{i}": now_ms for i in range(24)},
    )
    sandbox.state.faults_set(latency_ms=1000, scope="market")
    wasted = speculative("wasted")
    started = time.monotonic()
    r = call(redis_web, key)
    elapsed = time.monotonic() - started
    assert r.status_code == 429
    assert r.json()["code"] == "RATE_LIMITED" and "data" not in r.json()
    assert r.headers["ratelimit-remaining"] == "0" and "retry-after" in r.headers
    assert speculative("wasted") == wasted + 1
    assert elapsed < 0.8  # the refusal did not wait for the upstream
    # metered like any refusal
    # (the gateway flushes usage every 0.2 s; a loaded machine may take longer)
    day = {"requests": 0, "refused": {}}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        days = api.get("/api/organization/members/p/usage").json()["days"]
        if days and days[-1]["refused"]:
            day = days[-1]
            break
        time.sleep(0.1)
    assert (day["requests"], day["refused"]) == (1, {"RATE_LIMITED": 1})


def test_a_member_changed_elsewhere_after_speculation_is_refused_as_today(
    redis_web, member_key, settings
):
    """Another process's change (no message here yet): the generation check refuses."""
    client = redis.Redis.from_url(REDIS_URL)
    wasted = speculative("wasted")
    key = member_key("c", "mega")
    assert call(redis_web, key).status_code == 200  # a verdict with headroom
    member = Member.objects.get(uid="c")
    Member.objects.filter(pk=member.pk).update(status="cancelled")
    client.incr(f"{settings.REDIS_KEY_PREFIX}:gen:{member.pk}")
    r = call(redis_web, key)
    assert (r.status_code, r.json()["code"]) == (403, "MEMBER_CANCELLED")
    key = member_key("k", "mega")
    assert call(redis_web, key).status_code == 200
    member = Member.objects.get(uid="k")
    GatewayKey.objects.filter(member=member).update(revoked_at=dt.datetime.now(dt.UTC))
    client.incr(f"{settings.REDIS_KEY_PREFIX}:gen:{member.pk}")
    r = call(redis_web, key)
    assert (r.status_code, r.json()["code"]) == (401, "INVALID_API_KEY")
    assert speculative("wasted") == wasted + 2


def test_redis_failing_during_speculation_is_503_and_nothing_leaks(
    transactional_db, sandbox, settings, member_key
):
    from orgportal.asgi import application

    target = redis.Redis.from_url(REDIS_URL).connection_pool.connection_kwargs
    relay = Relay((target.get("host", "127.0.0.1"), target.get("port", 6379)))
    settings.UPSTREAM_MARKET_URL = sandbox.url
    settings.REDIS_URL = f"redis://127.0.0.1:{relay.port}/{target.get('db', 0)}"
    key = member_key("m", "mega")
    server = ThreadedServer(application).start()
    try:
        assert call(server, key).status_code == 200
        forwarded = speculative("forwarded")
        assert call(server, key).status_code == 200
        assert speculative("forwarded") == forwarded + 1
        sandbox.state.faults_set(latency_ms=300, scope="market")
        wasted = speculative("wasted")
        relay.cut()
        r = call(server, key)
    finally:
        server.stop()
        relay.cut()
    assert (r.status_code, r.json()["code"]) == (503, "LIMITS_UNAVAILABLE")
    assert "data" not in r.json() and r.headers["retry-after"] == "1"
    assert speculative("wasted") == wasted + 1
