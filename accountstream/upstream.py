"""One member's upstream Aries accounts connection, shared by all of that member's
client connections: authenticated with the member's stored brokerage token, refreshed
through the link's refresh token when upstream warns (`refreshAuth`) or refuses the
token, supervised (full-jitter backoff, re-auth, every subscription replayed), and
reference-counted by its subscribers.

Every upstream frame is parsed once to route it; clients get the very text upstream
sent, so decimal strings reach them byte for byte. Routing (`Session.route`) checks
each account event's account against the member's linked accounts.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import aiohttp

from accountstream import protocol
from accountstream.protocol import TokenFailed, TokenRetry
from marketdata.live.frames import json_object
from marketdata.live.link import Backoff
from orgportal.metrics import ACCOUNT_REAUTHS

log = logging.getLogger(__name__)

AUTH_REPLY_S = 10.0  # upstream answers an auth request within this, or it is broken
PING_EVERY_S = 30.0  # the documentation asks for a ping every 30-60 s


class Session:
    """Owner callbacks (all on the loop):
    - `tokens()` -> access token (awaitable): the link's current access token;
    - `refresh(rejected)` -> access token (awaitable): a fresh one (the link's refresh
      token spent), or TokenFailed;
    - `deliver(key, text, message)`: an event for the subscribers of `key`;
    - `reply(ident, text, message)`: upstream's answer to the gateway request `ident`;
    - `failed(reason)`: the session gave up for good (TokenFailed)."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        url: str,
        *,
        tokens: Callable[[], Awaitable[str]],
        refresh: Callable[[str], Awaitable[str]],
        deliver: Callable[[tuple, str, dict], None],
        reply: Callable[[str, str, dict], None],
        failed: Callable[[str], None],
        backoff: Backoff,
        stale_after: float = 90.0,
    ) -> None:
        self.http, self.url = http, url
        self.tokens, self.refresh = tokens, refresh
        self.deliver, self.reply, self.failed = deliver, reply, failed
        self.backoff = backoff
        self.stale_after = stale_after
        # key -> the subscribe request's payload (what to replay on reconnect)
        self.subscribed: dict[tuple, dict] = {}
        self.connected = asyncio.Event()
        self.reconnects = 0
        self._ws: aiohttp.ClientWebSocketResponse | None = None
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
        if ws is not None and not ws.closed:
            await ws.close()

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
        if ws is None or ws.closed or not self.connected.is_set():
            return  # sent on (re)connect from `subscribed`
        asyncio.get_running_loop().create_task(self._write(ws, message))

    async def _write(self, ws, message: dict) -> None:
        try:
            await ws.send_str(protocol.dumps(message))
        except (aiohttp.ClientError, ConnectionError, RuntimeError):
            pass  # the reader sees the broken connection and reconnects

    # --- supervision --------------------------------------------------------------------

    async def _supervise(self) -> None:
        while not self._stopped:
            try:
                cause = await self._session_once()
            except TokenFailed as exc:
                self._stopped = True
                self.failed(str(exc))
                return
            if self._stopped:
                return
            self.connected.clear()
            self.reconnects += 1
            delay = self.backoff.next_delay()
            log.info("upstream account stream lost (%s); again in %.1f s", cause, delay)
            await asyncio.sleep(delay)

    async def _session_once(self) -> str:
        try:
            ws = await self.http.ws_connect(
                self.url, timeout=aiohttp.ClientWSTimeout(ws_close=2.0), autoping=True
            )
        except aiohttp.WSServerHandshakeError as exc:
            return f"refused (HTTP {exc.status})"
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return f"unreachable ({type(exc).__name__})"
        self._ws = ws
        self._last_seen = time.monotonic()
        reader = asyncio.create_task(self._read(ws))
        try:
            if not self._token:
                self._token = await self.tokens()
            if not await self._authenticate(ws, reader):
                try:
                    self._token = await self.refresh(self._token)
                except TokenRetry as exc:
                    return f"no fresh token ({exc})"
                if not await self._authenticate(ws, reader):
                    raise TokenFailed("upstream refused a freshly refreshed token")
            self.backoff.reset()
            self.connected.set()
            for key, payload in list(self.subscribed.items()):
                await self._write(
                    ws, {"type": "subscribe", "id": f"replay:{key}", "payload": payload}
                )
            return await self._watch(ws, reader)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            self._ws = None
            if not ws.closed:
                await ws.close()

    async def _authenticate(self, ws, reader: asyncio.Task) -> bool:
        """True once upstream accepted the current token."""
        loop = asyncio.get_running_loop()
        self._auth_waiter = waiter = loop.create_future()
        ident = self.next_id()
        body = {"method": "post", "path": "/auth", "body": {"token": self._token}}
        await ws.send_str(
            protocol.dumps({"type": "request", "id": ident, "payload": body})
        )
        done, _ = await asyncio.wait(
            {waiter, reader}, timeout=AUTH_REPLY_S, return_when=asyncio.FIRST_COMPLETED
        )
        if waiter not in done:
            raise aiohttp.ClientError("no answer to the auth request")
        return waiter.result()

    async def _watch(self, ws, reader: asyncio.Task) -> str:
        """Until the connection ends: pings, staleness."""
        while not reader.done():
            await asyncio.wait({reader}, timeout=PING_EVERY_S / 3)
            now = time.monotonic()
            if now - self._last_seen > self.stale_after:
                await ws.close(code=1001, message=b"stale")
                return "stale"
            if not reader.done() and now - self._last_seen > PING_EVERY_S:
                await self._write(ws, {"type": "ping", "id": self.next_id()})
        return reader.result() if not reader.cancelled() else "stopped"

    async def _read(self, ws) -> str:
        while True:
            msg = await ws.receive()
            self._last_seen = time.monotonic()
            if msg.type is aiohttp.WSMsgType.TEXT:
                await self._frame(ws, msg.data)
            elif msg.type is aiohttp.WSMsgType.CLOSE:
                return f"closed ({msg.data} {msg.extra or ''})".strip()
            elif msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                return "dropped"

    async def _frame(self, ws, text: str) -> None:
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
                await self._auth_event(ws, action, message)
                return
            self._route(text, message, payload)
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
                self._replayed(text, message, payload)
            else:
                self.reply(ident, text, message)

    async def _auth_event(self, ws, action: str, message: dict) -> None:
        waiter = self._auth_waiter
        if action == "authSuccess":
            if waiter is not None and not waiter.done():
                waiter.set_result(True)
        elif action == "refreshAuth":
            # Before upstream's deadline: a fresh token, authenticated on this very
            # connection (subscriptions carry on).
            asyncio.get_running_loop().create_task(self._reauthenticate(ws))
        elif action in ("authExpired", "authTimeout"):
            await ws.close()

    async def _reauthenticate(self, ws) -> None:
        backoff = Backoff(self.backoff.base, self.backoff.cap)
        while True:
            try:
                self._token = await self.refresh(self._token)
                break
            except TokenFailed as exc:
                ACCOUNT_REAUTHS.labels("failed").inc()
                self._stopped = True
                self.failed(str(exc))
                await ws.close()
                return
            except TokenRetry:
                ACCOUNT_REAUTHS.labels("retried").inc()
                if ws.closed:
                    return  # the reconnect authenticates afresh
                await asyncio.sleep(backoff.next_delay())
        ACCOUNT_REAUTHS.labels("refreshed").inc()
        ident = self.next_id()
        body = {"method": "post", "path": "/auth", "body": {"token": self._token}}
        await self._write(ws, {"type": "request", "id": ident, "payload": body})

    def _route(self, text: str, message: dict, payload: dict) -> None:
        topic = payload.get("topic")
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        if topic == "account":
            target = payload.get("target")
            account = data.get("accountId") or data.get("id")
            if isinstance(target, str) and target.startswith("account:"):
                account = target[8:]
            self.deliver(("account", account), text, message)
        elif topic == "pnl":
            key = ("pnl", data.get("accountId"), data.get("interval"))
            self.deliver(key, text, message)
        elif topic in ("watchlist", "news"):
            self.deliver((topic,), text, message)

    def _replayed(self, text: str, message: dict, payload: dict) -> None:
        """The answer to a subscription replayed after a reconnect: a fresh snapshot
        for every subscriber of it."""
        ident = message.get("id", "")[len("replay:") :]
        for key in self.subscribed:
            if str(key) == ident:
                self.deliver(("snapshot",) + key, text, message)
                return
