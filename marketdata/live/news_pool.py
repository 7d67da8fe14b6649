"""/newsfeed in pooled mode: one upstream connection on the pool key while anyone
listens (marketdata.live.pool opens it); the newest items are kept for joiners."""

import asyncio

from marketdata.live import closes
from marketdata.live.client import Client
from marketdata.live.link import Link
from marketdata.live.outbox import text_frame
from orgportal.metrics import WS_DELIVERIES

NEWS_KEPT = 10  # news items a joiner of /newsfeed gets first


class NewsPool:
    """/newsfeed in pooled mode: one upstream connection while anyone listens; the
    newest items are kept for joiners."""

    def __init__(self, feed) -> None:  # a marketdata.live.pool.PooledFeed
        self.feed = feed
        self.clients: set[Client] = set()
        self.recent: list[str] = []
        self.link: Link | None = None
        self._teardown: asyncio.TimerHandle | None = None

    def join(self, client: Client) -> None:
        self.clients.add(client)
        for frame in self.recent:
            client.deliver(frame)
        if self._teardown is not None:
            self._teardown.cancel()
            self._teardown = None
        if self.link is None:
            self.link = self.feed.link("/newsfeed", self._frame, self._status).start()

    def leave(self, client: Client) -> None:
        self.clients.discard(client)
        if not self.clients and self.link is not None and self._teardown is None:
            self._teardown = asyncio.get_running_loop().call_later(
                self.feed.grace_s, self._close
            )

    def _close(self) -> None:
        self._teardown = None
        if not self.clients and self.link is not None:
            link, self.link = self.link, None
            self.recent.clear()
            asyncio.get_running_loop().create_task(link.stop())

    async def stop(self) -> None:
        if self.link is not None:
            await self.link.stop()
            self.link = None

    def _frame(self, text: str, message: dict) -> None:
        if "message" in message and len(message) == 1:
            return
        self.recent.append(text)
        del self.recent[:-NEWS_KEPT]
        wire = text_frame(text.encode())
        for client in self.clients:
            client.deliver(text, None, wire)
        WS_DELIVERIES.inc(len(self.clients))

    def _status(self, state: str, cause: str) -> None:
        frame = closes.RECOVERED if state == "recovered" else closes.degraded(cause)
        for client in self.clients:
            client.say(frame)
