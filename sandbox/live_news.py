"""The simulated `/newsfeed`'s shared feed: what every connection gets on joining and
as news is published (`sandbox.live` holds the protocol)."""

import asyncio
import math
from typing import Any

from orgportal import clock
from sandbox.live_streams import IDLE_SECONDS, Conn, Output, dumps
from sandbox.state.store import SandboxState
from sandbox.synth.news import NEWS_EVERY, news

__all__ = ["INITIAL_NEWS", "NewsFeed", "fast_news_item"]

INITIAL_NEWS = 10  # news items a /newsfeed connection starts with


def fast_news_item(slot: int, every: float) -> dict[str, Any]:
    """The news item of `slot` when items come every `every` seconds: synth's story of
    that index, published at slot × every, with an id no other cadence or slot has."""
    story = NEWS_EVERY
    item = dict(news(slot * story + story - 1, limit=1)[0])
    ident = f"sbx-{round(every * 1000)}ms-{slot}"
    item["id"] = ident
    item["link"] = f"https://news.sandbox.invalid/{ident}"
    item["published_at"] = round(slot * every, 3)
    return item


class NewsFeed:
    """The news every `/newsfeed` connection shares: on joining, the 10 most recent
    items (oldest first), then each new one. New items come as synth publishes them, or
    every `news_every_seconds` when that is set (then `fast_news_item`)."""

    def __init__(self, state: SandboxState, output: Output) -> None:
        self.state = state
        self.output = output
        self.conns: dict[Conn, None] = {}
        self._task: asyncio.Task[None] | None = None
        self._every: float | None = None
        self._slot = 0  # the last fast slot published

    def join(self, conn: Conn) -> None:
        now = clock.now().timestamp()
        items = news(now, limit=INITIAL_NEWS)
        items.reverse()
        for item in items:
            self.output.data(conn, dumps(item))
        conn.news_mark = items[-1]["published_at"] if items else now
        self.conns[conn] = None
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def leave(self, conn: Conn) -> None:
        self.conns.pop(conn, None)

    def stop(self) -> None:
        self.conns.clear()
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while self.conns:
            every = self.state.live.news_every_seconds
            now = clock.now().timestamp()
            if not self.output.stalled():
                self._publish(self._due(now, every))
            if every is None:
                wait = 1.0 - now % 1.0
            else:
                wait = (math.floor(now / every) + 1) * every - now
            await asyncio.sleep(min(max(wait, 0.001), IDLE_SECONDS))

    def _due(self, now: float, every: float | None) -> list[dict[str, Any]]:
        if every is None:
            self._every = None
            items = news(now, limit=INITIAL_NEWS)
            items.reverse()
            return items
        slot = math.floor(now / every)
        if every != self._every:
            self._every, self._slot = every, slot - 1
        first = max(self._slot + 1, slot - INITIAL_NEWS + 1)
        self._slot = max(self._slot, slot)
        return [fast_news_item(index, every) for index in range(first, slot + 1)]

    def _publish(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            published = item["published_at"]
            payload = None
            for conn in self.conns:
                if published > conn.news_mark:
                    payload = payload or dumps(item)
                    self.output.data(conn, payload)
                    conn.news_mark = published
