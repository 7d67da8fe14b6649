"""The simulated InsightSentry market data WebSockets: `GET /live` (series, ticks,
quotes) and `GET /newsfeed`, on the sandbox's port beside the REST API, with the same
symbols and prices (`sandbox.synth`).

`install(app, state)` mounts both on the root application; `sandbox.orgapi` also mounts
the control API (`/_sandbox/live`). What a key may subscribe to and the settings are
in `sandbox.live_config`, what is sent in `sandbox.live_streams` (news in
`sandbox.live_news`), when in `sandbox.live_ticker`. The protocol is upstream's:

1. On connect the server says `{"message": "Connecting..."}`.
2. The first JSON object with `api_key` (on `/live` also `subscriptions`) authenticates:
   a member's key, or the organization key (all features; limits `org_ws_symbols` and
   `org_ws_connections`). Then `{"message": "Connected to SANDBOX:LOCAL"}`. Refusals
   send `{"message": ...}` and close with 1008: unknown key, inactive member, too many
   open `/live` connections for the key, no news feed in the plan, nothing valid within
   `auth_timeout_seconds`. Other frames (not JSON, other objects, binary) are ignored.
3. Each later message with `subscriptions` (and the same `api_key`) replaces the whole
   set. A bad one is refused whole with `{"message": ...}`; nothing changes and the
   connection stays open. More than `subscription_rate_limit` of them per key in the
   sliding window are refused the same way while data keeps flowing.
4. A series subscription new to the connection first gets its history (100 bars, or 1,
   30,000 with `max_bars`, or exactly `max_dp`), then single-bar updates; quotes come
   in messages of up to 10 codes; both at `updates_per_second` (`sandbox.live_ticker`).
   Subscriptions kept by a replacing message keep flowing without a new history.
5. Text `ping` is answered `pong`; `{"server_time": <ms>}` every `heartbeat_seconds`.
6. `/newsfeed` sends the 10 most recent news items, then each new one
   (`sandbox.live_news`).
"""

import asyncio
import contextlib
import hmac
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from aiohttp import WSMsgType, web

from orgportal import clock
from sandbox import sockets
from sandbox.live_config import (
    QUOTES_PER_SUBSCRIPTION,
    Access,
    Refused,
    Wanted,
    config_json,
    parse_changes,
    parse_subscriptions,
)
from sandbox.live_news import NewsFeed
from sandbox.live_streams import (
    IDLE_SECONDS,
    Conn,
    History,
    Output,
    QuoteStream,
    SeriesStream,
    dumps,
    wall_ms,
)
from sandbox.live_ticker import Scheduler
from sandbox.sockets import GOING_AWAY, POLICY
from sandbox.state.formats import format_time
from sandbox.state.store import SandboxState

__all__ = ["HUB_KEY", "Access", "Hub", "control_json", "install"]

SERVER_NAME = "SANDBOX:LOCAL"
INTERNAL_ERROR = 1011


def _message(text: str) -> bytes:
    return dumps({"message": text})


# --- the hub ------------------------------------------------------------------------


class Hub:
    """Every open connection of one sandbox, their shared streams and the news feed."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.output = Output(state)
        self.scheduler = Scheduler(state, self.output)
        self.news = NewsFeed(state, self.output)
        self.history = History()
        self.conns: dict[int, Conn] = {}
        self._next_id = 0
        self._heartbeats: asyncio.Task[None] | None = None

    # --- connections ------------------------------------------------------------------

    async def serve(self, request: web.Request, path: str) -> web.StreamResponse:
        config = self.state.live
        ws = await sockets.accept(request, config.refuse_until)
        self._next_id += 1
        conn = Conn(
            self._next_id, path, ws, request.transport, format_time(clock.now())
        )
        self.conns[conn.id] = conn
        if self._heartbeats is None or self._heartbeats.done():
            self._heartbeats = asyncio.get_running_loop().create_task(self._heartbeat())
        try:
            self.output.control(conn, _message("Connecting..."))
            await self._read(conn, config.auth_timeout_seconds)
        finally:
            self._forget(conn)
        return ws

    async def _read(self, conn: Conn, auth_timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + auth_timeout
        ws = conn.ws
        while not conn.closing:
            timeout = None
            if conn.access is None:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    await self._close(
                        conn, POLICY, "authentication timeout", "Authentication timeout"
                    )
                    return
            try:
                msg = await ws.receive(timeout=timeout)
            except TimeoutError:
                continue
            if msg.type is WSMsgType.TEXT:
                await self._text(conn, msg.data)
            elif msg.type is WSMsgType.PING:
                if not self.output.stalled():
                    with contextlib.suppress(ConnectionError):
                        await ws.pong(msg.data)
            elif msg.type not in (WSMsgType.BINARY, WSMsgType.PONG):
                return  # closed, closing or broken

    def _forget(self, conn: Conn) -> None:
        conn.gone = conn.closing = True
        for key in conn.streams:
            self.scheduler.detach(conn, key)
        conn.streams.clear()
        self.news.leave(conn)
        self.conns.pop(conn.id, None)

    async def _close(
        self, conn: Conn, code: int, reason: str, message: str | None = None
    ) -> None:
        """Say `message`, then close with `code` and `reason`; cut the connection if
        the closing handshake does not finish in time."""
        if message is not None:
            self.output.control(conn, _message(message))
        await sockets.close(conn, code, reason)

    def _closing(self, code: int, reason: str, message: str | None) -> list:
        return [self._close(c, code, reason, message) for c in self.conns.values()]

    async def shutdown(self) -> None:
        """Close every connection promptly (the server is stopping)."""
        self.scheduler.stop()
        self.news.stop()
        if self._heartbeats is not None:
            self._heartbeats.cancel()
        closing = self._closing(GOING_AWAY, "server shutdown", None)
        await sockets.shut_down(closing, self.conns.values())

    async def _heartbeat(self) -> None:
        """`{"server_time": <ms>}` to each authenticated connection every
        `heartbeat_seconds` after it authenticated."""
        while self.conns:
            every = self.state.live.heartbeat_seconds
            now = time.monotonic()
            soonest = now + min(every, IDLE_SECONDS)
            if not self.output.stalled():
                payload = None
                for conn in list(self.conns.values()):
                    if conn.access is None or conn.closing:
                        continue
                    due = conn.last_heartbeat + every
                    if due <= now:
                        payload = payload or f'{{"server_time":{wall_ms()}}}'.encode()
                        conn.send(payload)
                        conn.last_heartbeat = now
                        due = now + every
                    soonest = min(soonest, due)
            await asyncio.sleep(max(soonest - time.monotonic(), 0.001))

    # --- messages ---------------------------------------------------------------------

    async def _text(self, conn: Conn, data: str) -> None:
        if data.strip() == "ping":
            self.output.control(conn, b"pong")
            return
        body = sockets.json_object(data)
        if body is None:
            return
        live = conn.path == "/live"
        if conn.access is None:
            if "api_key" not in body or (live and "subscriptions" not in body):
                return
            if not await self._authenticate(conn, body["api_key"]):
                return
            if not live:
                self.news.join(conn)
                return
        if live and "subscriptions" in body:
            await self._subscribe(conn, body)

    def _access(self, key: Any) -> Access | None:
        if not isinstance(key, str) or not key:
            return None
        if hmac.compare_digest(key.encode(), self.state.org_key.encode()):
            return Access("org", key, None)
        member = self.state.member_by_api_key(key)
        return Access(member.uid, key, member) if member is not None else None

    async def _authenticate(self, conn: Conn, key: Any) -> bool:
        access = self._access(key)
        if access is None:
            await self._close(conn, POLICY, "invalid api key", "Invalid API key")
            return False
        member = access.member
        if member is not None and member.status_at(clock.now()) != "active":
            await self._close(
                conn, POLICY, "subscription inactive", "Subscription inactive"
            )
            return False
        if conn.path == "/newsfeed":
            if not access.newsfeed:
                await self._close(
                    conn, POLICY, "news feed not in plan", "News feed not in plan"
                )
                return False
        else:
            allowed = access.connections(self.state.live)
            used = sum(
                1
                for other in self.conns.values()
                if other.path == "/live"
                and other.access is not None
                and other.access.id == access.id
                and not other.closing
            )
            if used >= allowed:
                await self._close(
                    conn,
                    POLICY,
                    "connection limit exceeded",
                    f"Connection limit exceeded: {allowed} allowed",
                )
                return False
        conn.access = access
        conn.last_heartbeat = time.monotonic()
        self.output.control(conn, _message(f"Connected to {SERVER_NAME}"))
        return True

    def _admit(self, access: Access) -> str | None:
        """Count one subscription message of the key; the refusal when over the rate."""
        config = self.state.live
        limit = config.subscription_rate_limit
        window = config.subscription_rate_window_seconds
        now = time.monotonic()
        recent = self.state.live_rates.setdefault(access.id, deque())
        while recent and recent[0] <= now - window:
            recent.popleft()
        if len(recent) >= limit:
            return (
                f"Rate limit exceeded: {limit} subscription messages "
                f"per {window:g} seconds"
            )
        recent.append(now)
        return None

    async def _subscribe(self, conn: Conn, body: Mapping[str, Any]) -> None:
        access = conn.access
        key = body.get("api_key")
        if key is None:
            refusal = "api_key is required in every subscription message"
        elif key != access.key:
            refusal = "api_key does not match this connection"
        else:
            refusal = self._admit(access)
        if refusal is not None:
            self.output.control(conn, _message(refusal))
            return
        try:
            wanted = parse_subscriptions(access, body["subscriptions"], self.state.live)
        except Refused as refused:
            self.output.control(conn, dumps(refused.body))
            return
        await self._apply(conn, wanted)

    async def _apply(self, conn: Conn, wanted: Wanted) -> None:
        """Replace the connection's subscriptions: leave the streams it no longer
        wants, join the new ones (a series' history first)."""
        codes = sorted(wanted.quotes)
        groups = [
            tuple(
                wanted.quotes[code] for code in codes[i : i + QUOTES_PER_SUBSCRIPTION]
            )
            for i in range(0, len(codes), QUOTES_PER_SUBSCRIPTION)
        ]
        quotes = [QuoteStream(group) for group in groups]
        keep = set(wanted.series) | {stream.key for stream in quotes}
        for key in [key for key in conn.streams if key not in keep]:
            self.scheduler.detach(conn, key)
            del conn.streams[key]
        conn.items = wanted.items
        now = clock.now().timestamp()
        for key, (spec, count) in wanted.series.items():
            if key in conn.streams:
                continue
            payload = await self.history.payload(spec, count, now)
            if conn.gone or conn.closing:
                return
            self.output.data(conn, payload)
            conn.streams[key] = self.scheduler.attach(conn, SeriesStream(spec))
        for stream in quotes:
            if stream.key in conn.streams:
                continue
            running = self.scheduler.attach(conn, stream)
            conn.streams[stream.key] = running
            payload = running.payload(now, wall_ms())
            if payload is not None:
                self.output.data(conn, payload)

    # --- control API ------------------------------------------------------------------

    async def control(self, body: Mapping[str, Any]) -> None:
        """Apply a validated `POST /_sandbox/live` body: settings, then actions."""
        changes = parse_changes(body)
        if changes.settings:
            self.state.live_set(**changes.settings)
        if changes.drop:
            sockets.cut_all(self.conns.values())
        if changes.close_error is not None:
            reason = changes.close_error
            closing = self._closing(INTERNAL_ERROR, reason, reason)
            await asyncio.gather(*closing, return_exceptions=True)


# --- mounting and the control API ---------------------------------------------------

HUB_KEY = web.AppKey("live_hub", Hub)


def install(app: web.Application, state: SandboxState) -> Hub:
    """Mount `/live` and `/newsfeed` on the root `app`, answering for `state`."""
    hub = Hub(state)
    app[HUB_KEY] = hub
    app.add_routes(
        [
            web.get("/live", _live, allow_head=False),
            web.get("/newsfeed", _newsfeed, allow_head=False),
        ]
    )
    app.on_shutdown.append(_shutdown)
    return hub


async def _live(request: web.Request) -> web.StreamResponse:
    return await request.config_dict[HUB_KEY].serve(request, "/live")


async def _newsfeed(request: web.Request) -> web.StreamResponse:
    return await request.config_dict[HUB_KEY].serve(request, "/newsfeed")


async def _shutdown(app: web.Application) -> None:
    await app[HUB_KEY].shutdown()


def control_json(hub: Hub) -> dict[str, Any]:
    """What `GET /_sandbox/live` shows (beside `"success": true`)."""
    connections = [
        {
            "id": conn.id,
            "path": conn.path,
            "key": conn.access.id if conn.access is not None else None,
            "opened_at": conn.opened_at,
            "subscriptions": conn.items,
            "sent": conn.sent,
            "dropped": conn.dropped,
            # the key's, in the current rate window (subscription_rate_window_seconds)
            "subscription_messages": len(
                hub.state.live_rates.get(conn.access.id, ())
                if conn.access is not None
                else ()
            ),
        }
        for conn in hub.conns.values()
        if not conn.closing
    ]
    return {
        "config": config_json(hub.state.live),
        "connections": connections,
        "streams": len(hub.scheduler.streams),
    }
