"""The accounts WebSocket `GET /v1/accounts/ws`: connections, authentication and
sessions, subscriptions, and sending (through the injected faults).

The protocol is the Aries accounts WebSocket documentation's; message
shapes are in `sandbox.aries.protocol`. Per connection:

1. Nothing is sent on connect. A `request` to `/auth` (method "post" in any case) with
   `body.token` must come within `auth_timeout_seconds`, else the `authTimeout` event
   and close 1008. A good token answers `authSuccess` (`expiresIn`: the session, ms);
   a bad, expired or revoked one answers 401 INVALID_TOKEN and the connection stays.
2. The session lasts `session_seconds` from the last successful auth; `refreshAuth`
   comes `refresh_warning_seconds` before its end (never when that is 0); at the end
   `authExpired` and close 1008. Re-authenticating on the connection (same user)
   starts a new session; subscriptions stay.
3. subscribe / unsubscribe answer `subscribed` (with the snapshot for `account`, the
   candles so far for `pnl`) or a `response`; events follow as the state changes.
4. `{"type": "ping", "id"}` answers `pong` with the id, authenticated or not. Frames
   that are not JSON objects, binary frames and unknown types are ignored.

Frames are written straight to the transport in the order they are produced, so the
events of one change leave together and in order; a stalled sandbox writes nothing.
"""

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from orgportal import clock
from sandbox import sockets
from sandbox.aries import protocol
from sandbox.aries.book import AriesBook, Event
from sandbox.aries.load import LoadFeed
from sandbox.aries.protocol import Refusal
from sandbox.aries.subscriptions import (
    Sub,
    live_candle,
    subscribe,
    synth_news_due,
    unsubscribe,
)
from sandbox.live_streams import garbled, text_frame
from sandbox.sockets import GOING_AWAY, POLICY
from sandbox.state.formats import format_time
from sandbox.state.store import SandboxState

if TYPE_CHECKING:
    from sandbox.aries.tokens import AccessToken

__all__ = ["Hub"]

logger = logging.getLogger(__name__)

# Longest the background loop sleeps before reading the settings again, in seconds.
IDLE_SECONDS = 0.25
# How often synth's news is looked at, in seconds.
NEWS_POLL_SECONDS = 1.0


class Conn:
    __slots__ = (
        "book",
        "closing",
        "id",
        "jti",
        "load_sent",
        "opened_at",
        "sent",
        "session_end",
        "subs",
        "transport",
        "user_id",
        "warn_at",
        "ws",
    )

    def __init__(self, conn_id: int, ws: web.WebSocketResponse, transport: Any) -> None:
        self.id = conn_id
        self.ws = ws
        self.transport = transport
        self.opened_at = format_time(clock.now())
        self.book: AriesBook | None = None  # the book it authenticated against
        self.user_id: str | None = None
        self.jti: str | None = None  # the access token of the current session
        self.session_end = 0.0  # monotonic
        self.warn_at: float | None = None  # monotonic; None once sent or never
        self.subs: dict[tuple, Sub] = {}
        self.sent = 0
        self.load_sent = 0  # benchmark load events (sandbox.aries.load)
        self.closing = False


class Hub:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.conns: dict[int, Conn] = {}
        self._ids = itertools.count(1)
        self._rng = random.Random(state.seed)
        self._ticker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.load = LoadFeed(self)

    # --- sending ----------------------------------------------------------------------

    def _stalled(self) -> bool:
        return time.monotonic() < self.state.aries.config.stall_until

    def _write(self, conn: Conn, payload: bytes, *, data: bool) -> bool:
        transport = conn.transport
        if conn.closing or transport is None or transport.is_closing():
            return False
        if conn.ws.closed or self._stalled():
            return False
        rate = self.state.aries.config.garbage_rate
        if data and rate and self._rng.random() < rate:
            transport.write(garbled(payload))
        else:
            transport.write(text_frame(payload))
        conn.sent += 1
        return True

    def send(self, conn: Conn, message: dict[str, Any], *, data: bool = False) -> bool:
        return self._write(conn, protocol.dumps(message), data=data)

    def publish(self, book: AriesBook, events: Iterable[Event]) -> None:
        """Send account and watchlist events to the connections subscribed."""
        for target, name, data in events:
            kind, _, ident = target.partition(":")
            payload = None
            for conn in list(self.conns.values()):
                if conn.book is not book:
                    continue
                if kind == "account" and ("account", ident) in conn.subs:
                    message = protocol.event("account", data, name=name, target=target)
                elif (
                    kind == "user"
                    and conn.user_id == ident
                    and ("watchlist",) in conn.subs
                ):
                    message = protocol.event("watchlist", data)
                else:
                    continue
                payload = payload or protocol.dumps(message)
                self._write(conn, payload, data=True)

    def publish_news(self, book: AriesBook, items: list[dict[str, Any]]) -> None:
        for conn in list(self.conns.values()):
            sub = conn.subs.get(("news",))
            if conn.book is not book or sub is None or sub.news is None:
                continue
            wanted = [item for item in items if sub.news.matches(item)]
            for item in wanted:
                message = protocol.event("news", {"msgType": "add", "items": [item]})
                self.send(conn, message, data=True)

    # --- connections ------------------------------------------------------------------

    async def serve(self, request: web.Request) -> web.StreamResponse:
        config = self.state.aries.config
        ws = await sockets.accept(request, config.refuse_until)
        conn = Conn(next(self._ids), ws, request.transport)
        self.conns[conn.id] = conn
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.get_running_loop().create_task(self._tick())
        self.load.start()
        try:
            await self._read(conn, config.auth_timeout_seconds)
        finally:
            conn.closing = True
            self.conns.pop(conn.id, None)
        return ws

    async def _read(self, conn: Conn, auth_timeout: float) -> None:
        auth_deadline = time.monotonic() + auth_timeout
        while not conn.closing:
            now = time.monotonic()
            if conn.user_id is None:
                if now >= auth_deadline:
                    await self._end(
                        conn, "authTimeout", "authentication timeout", POLICY
                    )
                    return
                wait = auth_deadline - now
            else:
                if conn.warn_at is not None and now >= conn.warn_at:
                    conn.warn_at = None
                    left = max(0.0, conn.session_end - now)
                    expires_at = protocol.now_ms() + round(left * 1000)
                    data = {"expiresIn": round(left * 1000), "expiresAt": expires_at}
                    self.send(conn, protocol.auth_event("refreshAuth", data))
                if now >= conn.session_end:
                    await self._end(conn, "authExpired", "session expired", POLICY)
                    return
                due = conn.session_end
                if conn.warn_at is not None:
                    due = min(due, conn.warn_at)
                wait = due - now
            try:
                msg = await conn.ws.receive(timeout=max(wait, 0.001))
            except TimeoutError:
                continue
            if msg.type is WSMsgType.TEXT:
                await self._text(conn, msg.data)
            elif msg.type is WSMsgType.PING:
                if not self._stalled():
                    with contextlib.suppress(ConnectionError):
                        await conn.ws.pong(msg.data)
            elif msg.type not in (WSMsgType.BINARY, WSMsgType.PONG):
                return  # closed, closing or broken

    async def _end(self, conn: Conn, action: str, reason: str, code: int) -> None:
        """Say `action` (an auth event with `reason` as its error), then close."""
        if conn.closing:
            return
        self.send(conn, protocol.auth_event(action, {"error": reason}))
        await sockets.close(conn, code, reason)

    def drop_all(self) -> None:
        """Cut every open connection: no close frame."""
        sockets.cut_all(self.conns.values())

    def expire(self, book: AriesBook, *, user_id: str | None, jti: str | None) -> int:
        """End the sessions of a user or of one access token with `authExpired`; how
        many."""
        ending = [
            conn
            for conn in self.conns.values()
            if conn.book is book
            and not conn.closing
            and conn.user_id is not None
            and (conn.user_id == user_id or (jti is not None and conn.jti == jti))
        ]
        loop = asyncio.get_running_loop()
        for conn in ending:
            task = loop.create_task(
                self._end(conn, "authExpired", "token expired", POLICY)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(ending)

    async def shutdown(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        self.load.stop()
        closing = [
            self._end(conn, "authExpired", "server shutdown", GOING_AWAY)
            for conn in list(self.conns.values())
        ]
        await sockets.shut_down(closing, self.conns.values())

    # --- messages ---------------------------------------------------------------------

    async def _text(self, conn: Conn, data: str) -> None:
        body = sockets.json_object(data)
        if body is None:
            return
        kind = body.get("type")
        request_id = body.get("id")
        payload = body.get("payload")
        if kind == "ping":
            self.send(conn, protocol.pong(request_id))
            return
        try:
            if kind == "request":
                self._request(conn, request_id, payload)
            elif kind in ("subscribe", "unsubscribe"):
                if conn.user_id is None or conn.book is None:
                    raise Refusal(401, "AUTH_REQUIRED", "authentication required")
                if kind == "subscribe":
                    self._subscribe(conn, request_id, payload)
                else:
                    self._unsubscribe(conn, request_id, payload)
        except Refusal as refusal:
            self.send(
                conn,
                protocol.error(
                    request_id, refusal.status, refusal.code, refusal.message
                ),
            )
        except Exception:
            # A bug must cost the client one answer, not its connection.
            logger.exception("aries: message failed: %.200s", data)
            self.send(
                conn,
                protocol.error(request_id, 500, "INTERNAL_ERROR", "internal error"),
            )

    def _request(self, conn: Conn, request_id: Any, payload: Any) -> None:
        if not isinstance(payload, dict):
            payload = {}
        path = payload.get("path")
        if path != "/auth":
            raise Refusal(404, "NOT_FOUND", f"unknown request path: {path}")
        method = payload.get("method")
        if not isinstance(method, str) or method.lower() != "post":
            raise Refusal(405, "METHOD_NOT_ALLOWED", "use method post for /auth")
        body = payload.get("body")
        token = body.get("token") if isinstance(body, dict) else None
        book = self.state.aries
        record: AccessToken | None = book.tokens.verify(token)
        if record is None or record.user_id not in book.users:
            raise Refusal(401, "INVALID_TOKEN", "token is invalid or expired")
        if conn.user_id is not None and (
            conn.user_id != record.user_id or conn.book is not book
        ):
            raise Refusal(
                403, "ACCESS_DENIED", "token belongs to another user than the session"
            )
        config = book.config
        now = time.monotonic()
        conn.book = book
        conn.user_id = record.user_id
        conn.jti = record.jti
        conn.session_end = now + config.session_seconds
        warning = config.refresh_warning_seconds
        conn.warn_at = conn.session_end - warning if warning > 0 else None
        expires_in = round(config.session_seconds * 1000)
        self.send(
            conn,
            protocol.auth_event("authSuccess", {"expiresIn": expires_in}, request_id),
        )

    def _subscribe(self, conn: Conn, request_id: Any, payload: Any) -> None:
        assert conn.book is not None and conn.user_id is not None
        now = clock.now().timestamp()
        key, sub, data = subscribe(conn.book, conn.user_id, payload, now)
        conn.subs[key] = sub
        self.send(conn, protocol.subscribed(request_id, sub.topic, sub.params, data))

    def _unsubscribe(self, conn: Conn, request_id: Any, payload: Any) -> None:
        data = unsubscribe(conn.subs, payload)
        self.send(conn, protocol.response(request_id, {"status": 200, "data": data}))

    # --- the background loop ----------------------------------------------------------

    async def _tick(self) -> None:
        """Live P&L candles every `pnl_every_seconds` (when a candle changed or a new
        one began) and synth's news as it is published."""
        next_pnl = next_news = 0.0
        while self.conns:
            book = self.state.aries
            config = book.config
            now = time.monotonic()
            if now >= next_pnl:
                next_pnl = now + config.pnl_every_seconds
                self._pnl(book)
            if now >= next_news:
                next_news = now + NEWS_POLL_SECONDS
                self._synth_news(config.synth_news)
            wait = min(next_pnl, next_news) - time.monotonic()
            await asyncio.sleep(min(max(wait, 0.001), IDLE_SECONDS))

    def _pnl(self, book: AriesBook) -> None:
        now = clock.now().timestamp()
        for conn in list(self.conns.values()):
            if conn.book is not book or conn.closing:
                continue
            for sub in list(conn.subs.values()):
                data = live_candle(book, sub, now)
                if data is not None:
                    self.send(conn, protocol.event("pnl", data), data=True)

    def _synth_news(self, enabled: bool) -> None:
        """Synth's stories published since each news subscription last looked."""
        now = clock.now().timestamp()
        subs = {
            conn: sub
            for conn in self.conns.values()
            if not conn.closing and (sub := conn.subs.get(("news",))) is not None
        }
        due = synth_news_due(list(subs.values()), now, enabled)
        for conn, sub in subs.items():
            for item in due.get(id(sub), ()):
                message = protocol.event("news", {"msgType": "add", "items": [item]})
                self.send(conn, message, data=True)

    # --- the control API --------------------------------------------------------------

    def connections_json(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [
            {
                "id": conn.id,
                "user_id": conn.user_id,
                "opened_at": conn.opened_at,
                "subscriptions": [
                    {"topic": sub.topic, "params": sub.params}
                    for sub in conn.subs.values()
                ],
                "sent": conn.sent,
                "load_sent": conn.load_sent,
                "session_seconds_left": (
                    round(max(0.0, conn.session_end - now), 3)
                    if conn.user_id is not None
                    else None
                ),
            }
            for conn in self.conns.values()
            if not conn.closing
        ]
