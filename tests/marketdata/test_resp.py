"""The gateway's own Redis connection (marketdata.resp) and the limiter on it: the wire
format, NOSCRIPT, reconnecting, timeouts, and failing with a RedisError every time."""

import asyncio
import hashlib
import os
import uuid

import pytest
from redis import exceptions as rx

from marketdata import resp
from marketdata.limits import _LUA, RedisLimiter, redis_client

NOW = 1_800_000_000_000


def test_replies_parse_whole_or_not_at_all():
    reply = b"*5\r\n:1\r\n$2\r\nok\r\n:3\r\n:59999\r\n:-7\r\n"
    assert resp._parse(reply, 0) == ([1, b"ok", 3, 59999, -7], len(reply))
    for cut in range(len(reply)):
        with pytest.raises(resp._Incomplete):
            resp._parse(reply[:cut], 0)
    assert resp._parse(b"$-1\r\n+OK\r\n", 0) == (None, 5)
    assert resp._parse(b"$-1\r\n+OK\r\n", 5) == (b"OK", 10)
    error, _ = resp._parse(b"-NOSCRIPT No matching script.\r\n", 0)
    assert isinstance(error, rx.NoScriptError)
    error, _ = resp._parse(b"-ERR wrong\r\n", 0)
    assert type(error) is rx.ResponseError


def test_replies_split_anywhere_reach_their_callers_in_order():
    loop = asyncio.new_event_loop()
    try:
        protocol = resp._Protocol()
        waiters = [loop.create_future() for _ in range(3)]
        protocol.waiters.extend(waiters)
        stream = b":1\r\n*2\r\n$3\r\nabc\r\n:2\r\n-ERR no\r\n"
        for i in range(len(stream)):  # one byte at a time
            protocol.data_received(stream[i : i + 1])
        assert waiters[0].result() == 1
        assert waiters[1].result() == [b"abc", 2]
        assert isinstance(waiters[2].result(), rx.ResponseError)
        assert protocol.buffer == b""
    finally:
        loop.close()


def test_the_pre_encoded_command_is_the_plain_encoding():
    client = redis_client("redis://127.0.0.1:6379/0")
    lim = RedisLimiter(client, "p")
    args = (7, 25, 100, NOW, "202603", "3")
    body = lim._arguments(*args)
    member = body.split(b"\r\n")[-4]  # the window's unique member, 6th argument
    sha = hashlib.sha1(_LUA.encode(), usedforsecurity=False).hexdigest()
    keys = ("p:rate:7", "p:quota:7:202603", "p:gen:7")
    argv = (NOW, 60_000, 25, 100, "3", member, 40 * 86_400)
    assert lim._evalsha + body == resp.encode("EVALSHA", sha, 3, *keys, *argv)
    assert lim._eval + body == resp.encode("EVAL", _LUA, 3, *keys, *argv)


@pytest.fixture
async def limiter():
    if not os.environ.get("REDIS_URL"):
        pytest.skip("REDIS_URL not set")
    client = redis_client(os.environ["REDIS_URL"])
    lim = RedisLimiter(client, f"resp-test-{uuid.uuid4().hex[:8]}")
    assert lim._wire is not None
    yield lim
    lim.close()
    await client.aclose()


async def check(limiter, member_id=1, **kw):
    args = dict(rate_limit=1000, quota=0, now_ms=NOW, month="202603", generation="0")
    return await limiter.check(member_id=member_id, **{**args, **kw})


async def test_an_unknown_script_is_sent_whole_and_counted_once(limiter):
    # As after a Redis restart: the server does not know the SHA1 we send.
    limiter._evalsha = limiter._evalsha.replace(limiter._evalsha[-50:-10], b"0" * 40)
    assert (await check(limiter, quota=5)).quota_used == 1
    assert (await check(limiter, quota=5)).quota_used == 2
    assert await limiter.quota_used(member_id=1, month="202603") == 2


async def test_a_dropped_connection_is_replaced_on_the_next_call(limiter):
    assert (await check(limiter)).allowed
    protocol = limiter._wire._protocols[asyncio.get_running_loop()]
    protocol.transport.abort()
    await asyncio.sleep(0.01)
    assert (await check(limiter)).quota_used == 2
    assert limiter._wire._protocols[asyncio.get_running_loop()] is not protocol


async def test_many_calls_in_flight_share_one_connection(limiter):
    decisions = await asyncio.gather(
        *(check(limiter, rate_limit=300) for _ in range(2000))
    )
    assert sum(d.allowed for d in decisions) == 300
    assert sorted(d.quota_used for d in decisions if d.allowed) == list(range(1, 301))
    assert len(limiter._wire._protocols) == 1


async def test_nothing_listening_is_a_redis_error():
    conn = resp.RespConnection(port=9, connect_timeout=1)
    with pytest.raises(rx.ConnectionError):
        await conn.execute(resp.encode("PING"))


async def test_a_silent_server_times_out_and_the_connection_is_dropped():
    accepted = []
    server = await asyncio.start_server(lambda r, w: accepted.append(w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    conn = resp.RespConnection(port=port, timeout=0.2)
    try:
        with pytest.raises(rx.TimeoutError):
            await conn.execute(resp.encode("PING"))
        with pytest.raises(rx.TimeoutError):  # a new connection, and no answer again
            await conn.execute(resp.encode("PING"))
        assert len(accepted) == 2
    finally:
        conn.close()
        server.close()


async def test_a_connection_that_breaks_mid_call_fails_that_call():
    async def hang_up_unanswered(reader, writer):
        await reader.readuntil(b"PING\r\n")
        writer.close()

    server = await asyncio.start_server(hang_up_unanswered, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    conn = resp.RespConnection(port=port, timeout=2)
    try:
        with pytest.raises(rx.ConnectionError):
            await conn.execute(resp.encode("PING"))
    finally:
        conn.close()
        server.close()


async def test_credentials_and_database_are_sent_first():
    seen = []

    async def serve(reader, writer):
        while True:
            line = await reader.readline()
            if not line:
                return
            seen.append(line)
            if line.startswith(b"*"):
                continue
            if line in (b"AUTH\r\n", b"SELECT\r\n", b"PING\r\n"):
                writer.write(b"+OK\r\n" if line != b"PING\r\n" else b"+PONG\r\n")

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = redis_client(f"redis://u:secret@127.0.0.1:{port}/3")
    conn = resp.RespConnection.like(client)
    try:
        assert await conn.execute(resp.encode("PING")) == b"PONG"
        words = [line.strip() for line in seen if line[:1] not in b"*$"]
        assert words == [b"AUTH", b"u", b"secret", b"SELECT", b"3", b"PING"]
    finally:
        conn.close()
        server.close()
        await client.aclose()


async def test_a_refused_password_is_an_authentication_error():
    async def serve(reader, writer):
        await reader.readuntil(b"secret\r\n")
        writer.write(b"-WRONGPASS invalid username-password pair\r\n")

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    conn = resp.RespConnection(port=port, password="secret")
    try:
        with pytest.raises(rx.AuthenticationError):
            await conn.execute(resp.encode("PING"))
    finally:
        conn.close()
        server.close()


def test_tls_stays_with_redis_py():
    client = redis_client("rediss://127.0.0.1:6380/0")
    assert not resp.RespConnection.supports(client)
    assert RedisLimiter(client)._wire is None
    assert resp.RespConnection.supports(redis_client("unix:///tmp/redis.sock"))


async def reply_with(answer: bytes):
    """A fake Redis that answers every command with `answer`; returns (server, port)."""

    async def serve(reader, writer):
        while await reader.read(65536):
            writer.write(answer)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_a_reply_of_the_wrong_shape_is_a_redis_error():
    server, port = await reply_with(b"+OK\r\n")
    client = redis_client(f"redis://127.0.0.1:{port}/0")
    lim = RedisLimiter(client)
    try:
        with pytest.raises(rx.RedisError):
            await check(lim)
    finally:
        lim.close()
        server.close()
        await client.aclose()


async def test_bytes_that_are_not_resp_drop_the_connection():
    server, port = await reply_with(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    conn = resp.RespConnection(port=port)
    try:
        with pytest.raises(rx.ConnectionError):
            await conn.execute(resp.encode("PING"))
        assert conn._protocols[asyncio.get_running_loop()].lost
    finally:
        conn.close()
        server.close()
