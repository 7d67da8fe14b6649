"""A client's outbound buffer: in order while it keeps up, conflated when behind,
closed when it stays behind."""

import asyncio
import json

import pytest

from marketdata.live import closes, outbox
from marketdata.live.outbox import Outbox


def bar(code, close, n=1):
    return json.dumps(
        {"code": code, "bar_type": "1m", "series": [{"time": 1, "close": close}] * n}
    )


class Receiver:
    def __init__(self):
        self.frames = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def send(self, message):
        await self.gate.wait()
        self.frames.append(message)


async def test_in_order_while_the_client_keeps_up():
    r = Receiver()
    box = Outbox(r.send)
    writer = asyncio.create_task(box.run())
    for i in range(100):
        assert box.push(bar("A", i))
    await asyncio.sleep(0.01)
    box.close(1000, "")
    await writer
    texts = [m["text"] for m in r.frames if m["type"] == "websocket.send"]
    assert [json.loads(t)["series"][0]["close"] for t in texts] == list(range(100))
    assert r.frames[-1] == {"type": "websocket.close", "code": 1000, "reason": ""}


async def test_a_slow_client_gets_the_latest_bar_per_series_and_every_status():
    r = Receiver()
    r.gate.clear()  # not reading
    box = Outbox(r.send)
    writer = asyncio.create_task(box.run())
    await asyncio.sleep(0)
    box.push(bar("A", -1, n=100), keep=True)  # history: never dropped
    for i in range(outbox.SOFT + 500):
        box.push(bar("A", i))
        box.push(bar("B", i))
        if i == 10:
            box.push(closes.message("status"), keep=True)
    assert box.conflated > 0
    assert len(box) < 20
    r.gate.set()
    await asyncio.sleep(0.01)
    box.close(1000, "")
    await writer
    texts = [m["text"] for m in r.frames if m["type"] == "websocket.send"]
    assert closes.message("status") in texts
    assert any(len(json.loads(t).get("series", [])) == 100 for t in texts)
    last = {}
    for t in texts:
        m = json.loads(t)
        if "series" in m and len(m["series"]) == 1:
            last[m["code"]] = m["series"][0]["close"]
    assert last == {"A": outbox.SOFT + 499, "B": outbox.SOFT + 499}


async def test_a_client_behind_for_too_long_is_closed_with_its_own_code(monkeypatch):
    monkeypatch.setattr(outbox, "MAX_BEHIND_S", 0.05)
    r = Receiver()
    r.gate.clear()
    box = Outbox(r.send)
    writer = asyncio.create_task(box.run())
    await asyncio.sleep(0)
    for i in range(outbox.SOFT + 10):
        box.push(bar("A", i))
    await asyncio.sleep(0.1)
    assert box.push(bar("A", 0)) is False
    assert box.closed[0] == closes.SLOW
    assert "too slow" in box.closed[1]
    r.gate.set()
    await asyncio.wait_for(writer, 1)
    assert r.frames[-1]["type"] == "websocket.close"
    assert r.frames[-1]["code"] == closes.SLOW


async def test_a_client_over_the_hard_bound_is_closed(monkeypatch):
    monkeypatch.setattr(outbox, "HARD", 50)
    r = Receiver()
    r.gate.clear()
    box = Outbox(r.send)
    ok = [box.push(bar(f"S{i}", i)) for i in range(outbox.SOFT + 100)]
    assert ok[-1] is False and box.closed[0] == closes.SLOW


@pytest.mark.parametrize(
    "frame, key",
    [
        (bar("A", 1), ("series", "A", "1m")),
        (bar("A", 1, n=2), None),
        ('{"message": "x"}', None),
        ("garbage", None),
        (
            '{"last_update": 1, "total_items": 1, "data": [{"code": "Q"}]}',
            ("quote", "Q"),
        ),
    ],
)
def test_conflation_keys(frame, key):
    assert outbox.conflation_key(frame) == key


async def test_frames_go_out_at_once_without_the_writer_while_the_client_keeps_up():
    r = Receiver()
    box = Outbox(r.send)  # no writer task running
    for i in range(3):
        box.push(bar("A", i))
    assert [json.loads(m["text"])["series"][0]["close"] for m in r.frames] == [0, 1, 2]
    r.gate.clear()
    box.push(bar("A", 3))  # this send has to wait: the rest queue behind it
    box.push(bar("A", 4))
    assert len(r.frames) == 3 and len(box) == 2
    writer = asyncio.create_task(box.run())
    r.gate.set()
    await asyncio.sleep(0.01)
    box.close(1000, "")
    await writer
    closes_ = [json.loads(m["text"])["series"][0]["close"] for m in r.frames[:-1]]
    assert closes_ == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65_535, 65_536, 300_000])
def test_text_frames_match_the_websockets_library(size):
    from websockets.frames import Frame, Opcode

    payload = b"x" * size
    expected = Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])
    assert outbox.text_frame(payload) == expected
