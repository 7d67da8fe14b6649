"""The pool key's subscription messages upstream: changes batched, paced under
upstream's per-key limit, and a refused batch retried one stream at a time."""

import asyncio
import types

from marketdata.live import pool, rules


class Recorder:
    """Stands in for the upstream link: what would have been sent, and when."""

    def __init__(self) -> None:
        self.subscriptions = None
        self.sent: list[tuple[float, list]] = []

    def replace(self, items: list) -> None:
        self.sent.append((asyncio.get_running_loop().time(), items))

    async def stop(self) -> None:
        pass


def connection() -> pool.PoolConnection:
    feed = types.SimpleNamespace(
        link=lambda *args: Recorder(),
        _status=None,
        per_connection=100,
        refused=[],
    )
    feed._refuse = lambda stream, text: feed.refused.append((stream.key, text))
    return pool.PoolConnection(feed, 1)


def stream(code: str) -> pool.Stream:
    item = {"code": code, "type": "series", "bar_type": "minute", "bar_interval": 1}
    return pool.Stream(rules.Subscription(("series", code, "1m"), item), 100)


def codes(items: list) -> list[str]:
    return [item["code"] for item in items]


async def test_changes_in_one_moment_are_one_message():
    conn = connection()
    for code in ("A:A", "B:B", "C:C"):
        conn.add(stream(code))
    await asyncio.sleep(pool.SUBSCRIBE_BATCH_S * 3)

    assert [codes(items) for _, items in conn.link.sent] == [["A:A", "B:B", "C:C"]]
    await conn.close()


async def test_messages_are_paced_under_the_key_limit(monkeypatch):
    # given: room for 2 messages a second
    monkeypatch.setattr(pool, "MESSAGE_LIMIT", pool.MESSAGE_MARGIN + 2)
    monkeypatch.setattr(pool, "MESSAGE_WINDOW_S", 0.5)
    conn = connection()

    # when: four changes, each in its own moment
    started = asyncio.get_running_loop().time()
    for code in ("A:A", "B:B", "C:C", "D:D"):
        conn.add(stream(code))
        await asyncio.sleep(pool.SUBSCRIBE_BATCH_S * 2)
    await asyncio.sleep(0.7)

    # then: two went at once, the rest waited for the window, and the last message
    # carries every stream
    times = [at - started for at, _ in conn.link.sent]
    assert len(times) == 3
    assert times[1] < 0.2 and times[2] >= 0.5
    assert codes(conn.link.sent[-1][1]) == ["A:A", "B:B", "C:C", "D:D"]
    await conn.close()


async def test_a_refused_batch_is_retried_one_stream_at_a_time():
    # given: two new streams sent together, refused whole
    conn = connection()
    good, bad = stream("GOOD:ONE"), stream("BAD:ONE")
    conn.add(good)
    conn.add(bad)
    await asyncio.sleep(pool.SUBSCRIBE_BATCH_S * 2)
    conn._frame(
        '{"message": "Invalid Symbol Code"}', {"message": "Invalid Symbol Code"}
    )

    # when: the first retried alone is confirmed by its data, the second refused
    await asyncio.sleep(pool.SUBSCRIBE_BATCH_S * 2)
    assert codes(conn.link.sent[-1][1]) == ["GOOD:ONE"]
    conn._confirmed(good)
    await asyncio.sleep(pool.SUBSCRIBE_BATCH_S * 2)
    assert codes(conn.link.sent[-1][1]) == ["GOOD:ONE", "BAD:ONE"]
    conn._frame(
        '{"message": "Invalid Symbol Code"}', {"message": "Invalid Symbol Code"}
    )

    # then: only the bad one is refused
    assert conn.feed.refused == [(bad.key, '{"message": "Invalid Symbol Code"}')]
    assert not conn.pending and not conn.suspects
    await conn.close()


async def test_upstream_rate_limit_refuses_nothing_and_sends_again_later(monkeypatch):
    monkeypatch.setattr(pool, "RATE_LIMITED_RETRY_S", 0.1)
    conn = connection()
    conn.add(stream("A:A"))
    await asyncio.sleep(pool.SUBSCRIBE_BATCH_S * 2)
    text = (
        '{"message": "Rate limit exceeded: 300 subscription messages per 300 seconds"}'
    )

    conn._frame(text, {"message": text})
    await asyncio.sleep(0.2)

    assert conn.feed.refused == []
    assert len(conn.link.sent) == 2 and codes(conn.link.sent[1][1]) == ["A:A"]
    await conn.close()
