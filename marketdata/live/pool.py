"""Pooled mode: one upstream subscription per distinct stream, whoever wants it.

Streams (marketdata.live.rules.Subscription.stream: the symbol and every option that
changes the data) are reference-counted by their subscribers and packed onto upstream
connections opened with the pool key, as many subscriptions per connection as the
pool key allows (MARKET_WS_POOL_SUBSCRIPTIONS), more connections as needed (up to
MARKET_WS_POOL_CONNECTIONS). Two streams upstream cannot tell apart in its frames (the
same symbol and bar type with different options) go on different connections. A stream
nobody wants is torn down after a grace period; a subscriber that comes back meanwhile
finds it still running.

Each upstream frame is parsed once. A series update goes, as the very text upstream
sent, to every subscriber of its stream; quote rows are regrouped per subscriber. Each
stream keeps its recent bars, so a late joiner's first message (its `recent_bars`,
`max_bars` or `max_dp` worth of history) comes from the pool without asking upstream.
When the pool key is full, members are told so in a status message, and their streams
start as soon as capacity frees up.
"""

import asyncio
import json
import logging
import time
from collections import deque

from marketdata.live import closes, rules
from marketdata.live.client import Client
from marketdata.live.link import Backoff, Link
from marketdata.live.news_pool import NewsPool
from marketdata.live.outbox import text_frame
from marketdata.live.slots import MESSAGE_LIMIT, MESSAGE_WINDOW_S
from orgportal.metrics import WS_DELIVERIES, WS_FANOUT_LAG, WS_UPSTREAM_STREAMS

log = logging.getLogger(__name__)

_STREAMS = WS_UPSTREAM_STREAMS.labels("pooled")
HISTORY_DEFAULT = 100  # bars a stream asks upstream for when nobody asks for more
# Changes to a pool connection's streams within this long go upstream as one message.
SUBSCRIBE_BATCH_S = 0.02
# The pool key's own subscription messages stay this far under upstream's limit.
MESSAGE_MARGIN = 10
RATE_LIMITED_RETRY_S = 5.0  # when upstream says the pool key sent too many anyway
_SUFFIX = {
    "second": "s",
    "minute": "m",
    "hour": "h",
    "day": "d",
    "week": "W",
    "month": "M",
}


def bar_label(item: dict) -> str:
    """The `bar_type` upstream writes in a series frame ("1m", "tick", ...)."""
    if item["bar_type"] == "tick":
        return "tick"
    return f"{item['bar_interval']}{_SUFFIX[item['bar_type']]}"


class Stream:
    __slots__ = (
        "key",
        "item",
        "route",
        "subscribers",
        "bars",
        "head",
        "ready",
        "conn",
        "history",
        "teardown",
        "waiting",
    )

    def __init__(self, sub: rules.Subscription, history: int) -> None:
        self.key = sub.stream
        self.item = dict(sub.item)
        for name in ("recent_bars", "max_bars", "max_dp"):
            self.item.pop(name, None)
        self.route = sub.code if sub.is_quote else (sub.code, bar_label(sub.item))
        self.subscribers: dict[Client, int] = {}  # client -> bars it wants first
        self.waiting: dict[Client, int] = {}  # joined before the first data arrived
        self.bars: list[dict] = []
        self.head: dict = {}  # code, bar_type, bar_end, last_update of the newest frame
        self.ready = False
        self.conn: PoolConnection | None = None
        self.history = history
        self.teardown: asyncio.TimerHandle | None = None

    @property
    def is_quote(self) -> bool:
        return self.item["type"] == "quote"

    def upstream_item(self) -> dict:
        if self.is_quote:
            return self.item
        return {**self.item, "max_dp": self.history}

    def first_message(self, wanted: int) -> str:
        """A joiner's first frame: the newest `wanted` bars from the stream's cache."""
        return json.dumps({**self.head, "series": self.bars[-wanted:]})


class PoolConnection:
    """One upstream connection on the pool key and the streams it carries."""

    def __init__(self, feed: "PooledFeed", number: int) -> None:
        self.feed = feed
        self.number = number
        self.streams: dict[tuple, Stream] = {}
        self.series: dict[tuple[str, str], Stream] = {}  # (code, bar label) -> stream
        self.quotes: dict[str, Stream] = {}  # code -> stream
        self.link = feed.link("/live", self._frame, feed._status)
        self.link.subscriptions = []
        self.pending: list[Stream] = []  # sent upstream, not yet confirmed
        # Set aside after upstream refused a message of several new streams: retried
        # one at a time, so only the one upstream refuses is refused to its members.
        self.suspects: list[Stream] = []
        self._flush: asyncio.TimerHandle | None = None
        self._sent: deque[float] = deque()  # when subscription messages went upstream

    def used(self) -> int:
        series = sum(1 for s in self.streams.values() if not s.is_quote)
        return series + -(-len(self.quotes) // rules.QUOTES_PER_SUBSCRIPTION)

    def room_for(self, stream: Stream) -> bool:
        if stream.is_quote:
            if stream.route in self.quotes:
                return False
            quotes = len(self.quotes) + 1
            series = len(self.streams) - len(self.quotes)
            used = series + -(-quotes // rules.QUOTES_PER_SUBSCRIPTION)
        else:
            if stream.route in self.series:
                return False  # upstream's frames could not tell the two apart
            used = self.used() + 1
        return used <= self.feed.per_connection

    def add(self, stream: Stream) -> None:
        self.streams[stream.key] = stream
        if stream.is_quote:
            self.quotes[stream.route] = stream
        else:
            self.series[stream.route] = stream
        stream.conn = self
        self.pending.append(stream)
        self.resubscribe()

    def remove(self, stream: Stream) -> None:
        self.streams.pop(stream.key, None)
        if stream.is_quote:
            self.quotes.pop(stream.route, None)
        else:
            self.series.pop(stream.route, None)
        if stream in self.pending:
            self.pending.remove(stream)
        if stream in self.suspects:
            self.suspects.remove(stream)
        stream.conn = None
        self.resubscribe()

    def resubscribe(self) -> None:
        """Send the streams upstream (replace-all) once this moment's changes are in,
        and no faster than the pool key's subscription message limit allows."""
        if self._flush is None:
            delay = max(SUBSCRIBE_BATCH_S, self._wait())
            self._flush = asyncio.get_running_loop().call_later(delay, self._send)

    async def close(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        await self.link.stop()

    def _wait(self) -> float:
        """Seconds until the pool key may send another subscription message."""
        now, sent = time.monotonic(), self._sent
        while sent and sent[0] <= now - MESSAGE_WINDOW_S:
            sent.popleft()
        if len(sent) < MESSAGE_LIMIT - MESSAGE_MARGIN:
            return 0.0
        return sent[0] + MESSAGE_WINDOW_S - now

    def _send(self) -> None:
        self._flush = None
        wait = self._wait()
        if wait > 0:
            self._flush = asyncio.get_running_loop().call_later(wait, self._send)
            return
        self._sent.append(time.monotonic())
        suspects = self.suspects
        self.link.replace(
            [s.upstream_item() for s in self.streams.values() if s not in suspects]
        )

    def _confirmed(self, stream: Stream) -> None:
        self.pending.remove(stream)
        if not self.pending and self.suspects:
            self._try_next_suspect()

    def _try_next_suspect(self) -> None:
        stream = self.suspects.pop(0)
        self.pending.append(stream)
        self.resubscribe()

    def _frame(self, text: str, message: dict) -> None:
        arrived = time.perf_counter()
        series = message.get("series")
        if series is not None:
            stream = self.series.get((message.get("code"), message.get("bar_type")))
            if stream is not None:
                self.feed._series(stream, text, message, series)
                if stream in self.pending:
                    self._confirmed(stream)
        elif "data" in message:
            self.feed._quotes(self, message)
        elif "message" in message:
            self._upstream_error(text)
        WS_FANOUT_LAG.observe(time.perf_counter() - arrived)

    def _upstream_error(self, text: str) -> None:
        """Upstream refused the last replace-all (e.g. "Invalid Symbol Code"), and with
        it every stream not yet confirmed. One such stream is refused to its
        subscribers and dropped; several are set aside and retried one at a time, so
        that only the one at fault is refused."""
        if "rate limit" in text.lower():
            # Nothing changed upstream (another process on the pool key, say): the
            # same set goes again later.
            if self._flush is not None:
                self._flush.cancel()
            loop = asyncio.get_running_loop()
            self._flush = loop.call_later(RATE_LIMITED_RETRY_S, self._send)
            return
        refused, self.pending = self.pending, []
        if len(refused) == 1:
            self.feed._refuse(refused[0], text)
        else:
            self.suspects.extend(refused)
        if self.suspects and not self.pending:
            self._try_next_suspect()


class PooledFeed:
    mode = "pooled"

    def __init__(
        self,
        session,
        base_url: str,
        pool_key: str,
        *,
        stale_after: float,
        backoff: tuple[float, float],
        per_connection: int,
        max_connections: int,
        grace_s: float,
    ) -> None:
        self.session, self.base_url, self.pool_key = session, base_url, pool_key
        self.stale_after, self.backoff = stale_after, backoff
        self.per_connection, self.max_connections = per_connection, max_connections
        self.grace_s = grace_s
        self.streams: dict[tuple, Stream] = {}
        self.connections: list[PoolConnection] = []
        self.unplaced: list[Stream] = []  # wanted, but the pool key is full
        self.news: NewsPool | None = None  # /newsfeed
        self._numbers = 0

    async def start(self) -> None:
        self.news = NewsPool(self)

    async def stop(self) -> None:
        for conn in self.connections:
            await conn.close()
        self.connections.clear()
        if self.news is not None:
            await self.news.stop()
        for stream in self.streams.values():
            if stream.teardown is not None:
                stream.teardown.cancel()
        self.streams.clear()
        _STREAMS.set(0)

    def link(self, path: str, on_frame, on_status) -> Link:
        """A supervised upstream connection on the pool key (not yet started)."""
        return Link(
            self.session,
            self.base_url + path,
            self.pool_key,
            on_frame=on_frame,
            on_status=on_status,
            on_fatal=self._fatal,
            stale_after=self.stale_after,
            backoff=Backoff(*self.backoff),
        )

    # --- members ------------------------------------------------------------------------

    def attach(self, client: Client) -> None:
        if client.path == "/newsfeed":
            client.feed_state = "news"
            self.news.join(client)
        else:
            client.feed_state = set()  # the stream keys the client has

    def replace(self, client: Client) -> None:
        wanted = {s.stream: s for s in client.subscriptions}
        had: set = client.feed_state
        for key in had - wanted.keys():
            self._leave(self.streams.get(key), client)
        full: list[str] = []
        for key, sub in wanted.items():
            stream = self.streams.get(key)
            if stream is None:
                stream = self._open(sub)
            elif stream.teardown is not None:
                stream.teardown.cancel()
                stream.teardown = None
            first = (
                rules.history_wanted(sub.item, client.plan) if not sub.is_quote else 0
            )
            if key in had:
                continue
            stream.subscribers[client] = first
            if not stream.is_quote:
                if stream.ready:
                    client.say(stream.first_message(first))
                else:
                    stream.waiting[client] = first
            if stream.conn is None:
                full.append(sub.code)
        client.feed_state = set(wanted)
        if full:
            client.say(closes.pool_full(full))

    async def detach(self, client: Client) -> None:
        if client.feed_state == "news":
            self.news.leave(client)
        elif client.feed_state:
            for key in client.feed_state:
                self._leave(self.streams.get(key), client)
        client.feed_state = None

    def describe(self) -> dict:
        return {
            "mode": self.mode,
            "streams": len(self.streams),
            "upstream_connections": len(self.connections),
            "unplaced": len(self.unplaced),
        }

    # --- streams ------------------------------------------------------------------------

    def _open(self, sub: rules.Subscription) -> Stream:
        history = max(HISTORY_DEFAULT, sub.item.get("max_dp", 0))
        if sub.item.get("max_bars"):
            history = rules.history_wanted(sub.item, rules.Plan(0, True, 30_000))
        stream = self.streams[sub.stream] = Stream(sub, history)
        _STREAMS.set(len(self.streams))
        self._place(stream)
        return stream

    def _place(self, stream: Stream) -> bool:
        for conn in self.connections:
            if conn.room_for(stream):
                conn.add(stream)
                return True
        if len(self.connections) < self.max_connections:
            self._numbers += 1
            conn = PoolConnection(self, self._numbers)
            self.connections.append(conn)
            conn.link.start()
            conn.add(stream)
            return True
        self.unplaced.append(stream)
        return False

    def _leave(self, stream: Stream | None, client: Client) -> None:
        if stream is None:
            return
        stream.subscribers.pop(client, None)
        stream.waiting.pop(client, None)
        if not stream.subscribers and stream.teardown is None:
            loop = asyncio.get_running_loop()
            stream.teardown = loop.call_later(self.grace_s, self._teardown, stream)

    def _teardown(self, stream: Stream) -> None:
        stream.teardown = None
        if stream.subscribers or self.streams.get(stream.key) is not stream:
            return
        del self.streams[stream.key]
        _STREAMS.set(len(self.streams))
        if stream in self.unplaced:
            self.unplaced.remove(stream)
        conn = stream.conn
        if conn is None:
            return
        conn.remove(stream)
        if not conn.streams:
            self.connections.remove(conn)
            asyncio.get_running_loop().create_task(conn.close())
        while self.unplaced and self._place(self.unplaced[0]):
            self.unplaced.pop(0)

    def _refuse(self, stream: Stream, text: str) -> None:
        for client in list(stream.subscribers):
            client.say(text)
            client.subscriptions = [
                s for s in client.subscriptions if s.stream != stream.key
            ]
            client.feed_state.discard(stream.key)
        stream.subscribers.clear()
        stream.waiting.clear()
        self.streams.pop(stream.key, None)
        _STREAMS.set(len(self.streams))
        if stream.conn is not None:
            stream.conn.remove(stream)

    # --- upstream frames ----------------------------------------------------------------

    def _series(self, stream: Stream, text: str, message: dict, series: list) -> None:
        stream.head = {
            k: message[k]
            for k in ("code", "bar_end", "last_update", "bar_type")
            if k in message
        }
        if len(series) != 1 or not stream.ready:
            stream.bars = series[
                -stream.history :
            ]  # history (first or after resubscribing)
            stream.ready = True
            for client, wanted in stream.waiting.items():
                client.say(stream.first_message(wanted))
            stream.waiting.clear()
            return
        bar = series[0]
        bars = stream.bars
        if bars and bars[-1].get("time") == bar.get("time"):
            bars[-1] = bar
        else:
            bars.append(bar)
            if len(bars) > stream.history:
                del bars[0]
        key = stream.key
        waiting = stream.waiting
        wire = text_frame(text.encode())  # framed once for every subscriber
        for client in stream.subscribers:
            if not waiting or client not in waiting:
                client.deliver(text, key, wire)
        WS_DELIVERIES.inc(len(stream.subscribers) - len(waiting))

    def _quotes(self, conn: PoolConnection, message: dict) -> None:
        rows = message.get("data")
        if not isinstance(rows, list):
            return
        per_client: dict[Client, list[str]] = {}
        for row in rows:
            stream = conn.quotes.get(row.get("code")) if isinstance(row, dict) else None
            if stream is None:
                continue
            if stream in conn.pending:
                conn._confirmed(stream)
            encoded = json.dumps(row)
            for client in stream.subscribers:
                per_client.setdefault(client, []).append(encoded)
        last = json.dumps(message.get("last_update"))
        WS_DELIVERIES.inc(len(per_client))
        for client, encoded in per_client.items():
            client.deliver(
                f'{{"last_update": {last}, "total_items": {len(encoded)}, '
                f'"data": [{", ".join(encoded)}]}}',
                ("quote",),
            )

    def _status(self, state: str, cause: str) -> None:
        frame = closes.RECOVERED if state == "recovered" else closes.degraded(cause)
        for stream in self.streams.values():
            for client in stream.subscribers:
                client.say(frame)

    def _fatal(self, reason: str) -> None:
        log.error("upstream refused the pool key: %s", reason)
        for stream in list(self.streams.values()):
            for client in list(stream.subscribers):
                client.close(
                    *closes.UPSTREAM_REFUSED_KEY, message=closes.message(reason)
                )
