"""One member's upstream Aries accounts connection, shared by all of that member's
client connections: authenticated with the member's stored brokerage token, refreshed
through the link's refresh token when upstream warns (`refreshAuth`) or refuses the
token, supervised (full-jitter backoff, re-auth, every subscription replayed), and
reference-counted by its subscribers.

The connection is a picows WebSocket: its frames arrive in a callback straight from
the socket's read (`_Frames.on_ws_frame`), with no message object, future or task
switch per frame. At 25,000 events/s that per-frame machinery of a task-based client
was most of what the gateway added over a byte relay (bench/README.md, account
streams). Every upstream frame is parsed once to route it; clients get the very bytes
upstream sent, so decimal strings reach them byte for byte. Routing (`Session._route`)
checks each account event's account against the member's linked accounts.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import picows
from django.conf import settings

from accountstream import protocol
from accountstream.protocol import TokenFailed, TokenRetry
from marketdata.live.frames import json_object
from marketdata.live.link import Backoff
from orgportal.metrics import ACCOUNT_REAUTHS

log = logging.getLogger(__name__)

AUTH_REPLY_S = 10.0  # upstream answers an auth request within this, or it is broken
HANDSHAKE_S = 10.0  # the WebSocket upgrade's answer, once connected
PING_EVERY_S = 30.0  # the documentation asks for a ping every 30-60 s
MAX_MESSAGE = 8 * 1024 * 1024  # a message (all its fragments) larger than this ends it

_TEXT, _CONT, _CLOSE = (
    picows.WSMsgType.TEXT,
    picows.WSMsgType.CONTINUATION,
    picows.WSMsgType.CLOSE,
)


class _Frames(picows.WSListener):
    """A connection's frames, as they are read: whole text messages (fragments joined)
    to the session; a close frame answered and the connection ended."""

    def __init__(self, session: "Session") -> None:
        self.session = session
        self.parts: list[bytes] | None = None  # a fragmented text message so far
        self.size = 0
        self.closed = "dropped"  # why the connection ended, once it has

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        session = self.session
        session._last_seen = time.monotonic()
        kind = frame.msg_type
        if kind == _TEXT:
            if frame.fin:
                session._frame(frame.get_payload_as_bytes())
            else:
                self.parts, self.size = (
                    [frame.get_payload_as_bytes()],
                    frame.payload_size,
                )
        elif kind == _CONT and self.parts is not None:
            self.size += frame.payload_size
            if self.size > MAX_MESSAGE:
                self.parts = None
                transport.send_close(picows.WSCloseCode.MESSAGE_TOO_BIG)
                transport.disconnect()
                return
            self.parts.append(frame.get_payload_as_bytes())
            if frame.fin:
                parts, self.parts = self.parts, None
                session._frame(b"".join(parts))
        elif kind == _CLOSE:
            code, reason = frame.get_close_code(), frame.get_close_reason() or ""
            self.closed = f"closed ({int(code)} {reason})".strip()
            transport.send_close(code)
            transport.disconnect()

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        self.parts = None


class Session:
    """Owner callbacks (all on the loop):
    - `tokens()` -> access token (awaitable): the link's current access token;
    - `refresh(rejected)` -> access token (awaitable): a fresh one (the link's refresh
      token spent), or TokenFailed;
    - `deliver(key, text, message, raw)`: an event for the subscribers of `key`
      (`raw`: the very bytes upstream sent);
    - `reply(ident, text, message)`: upstream's answer to the gateway request `ident`;
    - `failed(reason)`: the session gave up for good (TokenFailed)."""

    def __init__(
        self,
        url: str,
        *,
        tokens: Callable[[], Awaitable[str]],
        refresh: Callable[[str], Awaitable[str]],
        deliver: Callable[[tuple, str, dict, bytes], None],
        reply: Callable[[str, str, dict], None],
        failed: Callable[[str], None],
        backoff: Backoff,
        stale_after: float = 90.0,
    ) -> None:
        self.url = url
        self.tokens, self.refresh = tokens, refresh
        self.deliver, self.reply, self.failed = deliver, reply, failed
        self.backoff = backoff
        self.stale_after = stale_after
        # key -> the subscribe request's payload (what to replay on reconnect)
        self.subscribed: dict[tuple, dict] = {}
        self.connected = asyncio.Event()
        self.reconnects = 0
        self._ws: picows.WSTransport | None = None
        self._task: asyncio.Task | None = None
        self._token = ""
        self._ids = 0
        self._auth_waiter: asyncio.Future | None = None
        self._stopped = False
        self._last_seen = time.monotonic()

    # --- the owner's side ---------------------------------------------------------------

    def start(self) -> "Session":
        self._task = asyncio.create_task(self._supervise())
        return self

    async def stop(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        ws = self._ws
        if ws is not None:
            await _close(ws)

    def next_id(self) -> str:
        self._ids += 1
        return f"gw-{self._ids}"

    def subscribe(self, key: tuple, payload: dict, ident: str) -> None:
        """Subscribe upstream (again: a fresh snapshot for a new subscriber); the reply
        comes back through `reply(ident, ...)`. Kept for replay after a reconnect."""
        self.subscribed[key] = payload
        self._send({"type": "subscribe", "id": ident, "payload": payload})

    def unsubscribe(self, key: tuple) -> None:
        payload = self.subscribed.pop(key, None)
        if payload is not None:
            self._send(
                {"type": "unsubscribe", "id": self.next_id(), "payload": payload}
            )

    def _send(self, message: dict) -> None:
        ws = self._ws
        if ws is None or not self.connected.is_set():
            return  # sent on (re)connect from `subscribed`
        _write(ws, message)

    # --- supervision --------------------------------------------------------------------

    async def _supervise(self) -> None:
        while not self._stopped:
            try:
                cause = await self._session_once()
            except TokenFailed as exc:
                self._stopped = True
                self.failed(str(exc))
                return
            except Exception as exc:  # a fault of ours: said, and the session goes on
                log.exception("upstream account stream failed")
                cause = f"failed ({type(exc).__name__})"
            if self._stopped:
                return
            self.connected.clear()
            self.reconnects += 1
            delay = self.backoff.next_delay()
            log.info("upstream account stream lost (%s); again in %.1f s", cause, delay)
            await asyncio.sleep(delay)

    async def _session_once(self) -> str:
        connecting = picows.ws_connect(
            lambda: _Frames(self),
            self.url,
            websocket_handshake_timeout=HANDSHAKE_S,
            logger_name="accountstream",
            # the event loop's own transport: measured cheaper per frame here than
            # picows's alternative (bench/README.md, account streams)
            use_aiofastnet=False,
        )
        try:
            # Connected within the upstreams' connect timeout, upgraded in HANDSHAKE_S.
            ws, frames = await asyncio.wait_for(
                connecting, settings.UPSTREAM_CONNECT_TIMEOUT + HANDSHAKE_S
            )
        except picows.WSHandshakeError as exc:
            status = exc.response.status if exc.response is not None else None
            if status is not None:
                return f"refused (HTTP {int(status)})"
            return f"refused ({exc})"
        except (picows.WSError, OSError, TimeoutError) as exc:
            return f"unreachable ({type(exc).__name__})"
        self._ws = ws
        self._last_seen = time.monotonic()
        ended = asyncio.ensure_future(ws.wait_disconnected())
        try:
            if not self._token:
                self._token = await self.tokens()
            try:
                if not await self._authenticate(ws, ended):
                    try:
                        self._token = await self.refresh(self._token)
                    except TokenRetry as exc:
                        return f"no fresh token ({exc})"
                    if not await self._authenticate(ws, ended):
                        raise TokenFailed("upstream refused a freshly refreshed token")
            except _Lost as exc:
                return str(exc)
            self.backoff.reset()
            self.connected.set()
            for key, payload in list(self.subscribed.items()):
                _write(
                    ws, {"type": "subscribe", "id": f"replay:{key}", "payload": payload}
                )
            return await self._watch(ws, ended, frames)
        finally:
            self._ws = None
            await _close(ws)
            ended.cancel()
            await asyncio.gather(ended, return_exceptions=True)

    async def _authenticate(
        self, ws: picows.WSTransport, ended: asyncio.Future
    ) -> bool:
        """True once upstream accepted the current token."""
        loop = asyncio.get_running_loop()
        self._auth_waiter = waiter = loop.create_future()
        self._send_auth(ws)
        done, _ = await asyncio.wait(
            {waiter, ended}, timeout=AUTH_REPLY_S, return_when=asyncio.FIRST_COMPLETED
        )
        if waiter not in done:
            raise _Lost("no answer to the auth request")
        return waiter.result()

    async def _watch(self, ws, ended: asyncio.Future, frames: _Frames) -> str:
        """Until the connection ends: pings, staleness."""
        while not ended.done():
            await asyncio.wait({ended}, timeout=PING_EVERY_S / 3)
            now = time.monotonic()
            if now - self._last_seen > self.stale_after:
                ws.send_close(picows.WSCloseCode.GOING_AWAY, b"stale")
                return "stale"
            if not ended.done() and now - self._last_seen > PING_EVERY_S:
                _write(ws, {"type": "ping", "id": self.next_id()})
        if not ended.cancelled() and ended.exception() is not None:
            log.error("upstream account stream failed", exc_info=ended.exception())
            return f"failed ({type(ended.exception()).__name__})"
        return frames.closed

    # --- frames (from _Frames, on the loop) -----------------------------------------------

    def _frame(self, raw: bytes) -> None:
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            return  # garbage is dropped, never forwarded
        message = json_object(text)
        if message is None:
            return
        kind = message.get("type")
        payload = message.get("payload")
        if not isinstance(payload, dict):
            payload = {}
        if kind == "event":
            action = payload.get("action")
            if action is not None:
                self._auth_event(action)
                return
            self._route(raw, text, message, payload)
        elif kind in ("subscribed", "response"):
            ident = message.get("id")
            if not isinstance(ident, str):
                return
            waiter = self._auth_waiter
            if kind == "response" and waiter is not None and not waiter.done():
                if payload.get("code") == "INVALID_TOKEN":
                    waiter.set_result(False)
                    return
            if ident.startswith("replay:"):
                self._replayed(text, message)
            else:
                self.reply(ident, text, message)

    def _auth_event(self, action: str) -> None:
        waiter = self._auth_waiter
        ws = self._ws
        if action == "authSuccess":
            if waiter is not None and not waiter.done():
                waiter.set_result(True)
        elif action == "refreshAuth" and ws is not None:
            # Before upstream's deadline: a fresh token, authenticated on this very
            # connection (subscriptions carry on).
            asyncio.get_running_loop().create_task(self._reauthenticate(ws))
        elif action in ("authExpired", "authTimeout") and ws is not None:
            ws.send_close(picows.WSCloseCode.OK)
            ws.disconnect()

    async def _reauthenticate(self, ws: picows.WSTransport) -> None:
        backoff = Backoff(self.backoff.base, self.backoff.cap)
        while True:
            try:
                self._token = await self.refresh(self._token)
                break
            except TokenFailed as exc:
                ACCOUNT_REAUTHS.labels("failed").inc()
                self._stopped = True
                self.failed(str(exc))
                await _close(ws)
                return
            except TokenRetry:
                ACCOUNT_REAUTHS.labels("retried").inc()
                if ws.is_disconnected:
                    return  # the reconnect authenticates afresh
                await asyncio.sleep(backoff.next_delay())
        ACCOUNT_REAUTHS.labels("refreshed").inc()
        self._send_auth(ws)

    def _send_auth(self, ws: picows.WSTransport) -> None:
        """The auth request with the current token (the answer is an event)."""
        body = {"method": "post", "path": "/auth", "body": {"token": self._token}}
        _write(ws, {"type": "request", "id": self.next_id(), "payload": body})

    def _route(self, raw: bytes, text: str, message: dict, payload: dict) -> None:
        topic = payload.get("topic")
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        if topic == "account":
            target = payload.get("target")
            account = data.get("accountId") or data.get("id")
            if isinstance(target, str) and target.startswith("account:"):
                account = target[8:]
            self.deliver(("account", account), text, message, raw)
        elif topic == "pnl":
            key = ("pnl", data.get("accountId"), data.get("interval"))
            self.deliver(key, text, message, raw)
        elif topic in ("watchlist", "news"):
            self.deliver((topic,), text, message, raw)

    def _replayed(self, text: str, message: dict) -> None:
        """The answer to a subscription replayed after a reconnect: a fresh snapshot
        for every subscriber of it."""
        ident = message.get("id", "")[len("replay:") :]
        for key in self.subscribed:
            if str(key) == ident:
                self.deliver(("snapshot",) + key, text, message, b"")
                return


class _Lost(Exception):
    """The connection stopped answering."""


def _write(ws: picows.WSTransport, message: dict) -> None:
    """One text frame upstream (picows buffers it; a broken connection is seen by the
    reader and reconnected)."""
    if not ws.is_disconnected:
        ws.send(_TEXT, protocol.dumps(message).encode())


async def _close(ws: picows.WSTransport) -> None:
    """Close the connection (a close frame if it still can), and wait until it has."""
    if not ws.is_disconnected:
        ws.send_close(picows.WSCloseCode.OK)
        ws.disconnect()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(ws.wait_disconnected(), 2.0)
