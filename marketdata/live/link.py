"""One supervised upstream WebSocket connection (`/live` or `/newsfeed`).

It connects, authenticates with its upstream key and its current subscriptions, and
hands every data frame, parsed once, to its owner. When the connection breaks (closed,
refused, garbage is fine but silence is not) it reconnects with full-jitter backoff
(a random wait in [0, min(cap, base * 2^attempt)], 1 s to 60 s by default), resubscribes
everything, and tells its owner when it is degraded and when it has recovered. A
watchdog treats an upstream that sends nothing (not even its 10-second heartbeat) for
`stale_after` seconds as broken.
"""

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable

import aiohttp

from marketdata.live.frames import json_object
from orgportal.backoff import full_jitter
from orgportal.metrics import WS_UPSTREAM_RECONNECTS

log = logging.getLogger(__name__)

# Close reasons with which upstream refuses the key itself: retrying cannot help.
_FATAL = ("invalid api key", "subscription inactive")
PING_EVERY_S = 15.0  # upstream asks clients not to ping more often


class Backoff:
    """Full-jitter exponential backoff."""

    def __init__(
        self, base: float, cap: float, rng: random.Random | None = None
    ) -> None:
        self.base, self.cap = base, cap
        self.attempt = 0
        self._random = rng or random.Random()

    def next_delay(self) -> float:
        delay = full_jitter(
            self.attempt, base=self.base, cap=self.cap, rng=self._random
        )
        self.attempt = min(self.attempt + 1, 30)
        return delay

    def reset(self) -> None:
        self.attempt = 0


class Link:
    """Owner callbacks: on_frame(text, message) for data and error frames; on_status(
    "degraded", cause) / on_status("recovered", ""); on_fatal(reason) when upstream
    refuses the key for good (the link then stops)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        api_key: str,
        *,
        on_frame: Callable[[str, dict], None],
        on_status: Callable[[str, str], None],
        on_fatal: Callable[[str], None],
        stale_after: float = 30.0,
        backoff: Backoff | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        self.session, self.url, self.api_key = session, url, api_key
        self.on_frame, self.on_status, self.on_fatal = on_frame, on_status, on_fatal
        self.stale_after = stale_after
        self.backoff = backoff or Backoff(1.0, 60.0)
        self.connect_timeout = connect_timeout
        self.subscriptions: list[dict] | None = None  # None on /newsfeed
        self.connected = False
        self.reconnects = 0
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task | None = None
        self._last_seen = time.monotonic()
        self._stopped = False
        self._stale = False
        self._degraded = False

    # --- the owner's side ---------------------------------------------------------------

    def start(self) -> "Link":
        self._task = asyncio.create_task(self._supervise())
        return self

    def replace(self, subscriptions: list[dict]) -> None:
        """The whole desired set (replace-all); sent now if connected, else on connect."""
        self.subscriptions = subscriptions
        if self._ws is not None and not self._ws.closed:
            asyncio.create_task(self._send_subscriptions(self._ws))

    async def stop(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()

    # --- supervision --------------------------------------------------------------------

    async def _supervise(self) -> None:
        while not self._stopped:
            cause = await self._session_once()
            if self._stopped or cause is None:
                return
            self.connected = False
            self.reconnects += 1
            WS_UPSTREAM_RECONNECTS.labels(cause.split(" ")[0]).inc()
            if not self._degraded:
                self._degraded = True
                self.on_status("degraded", cause)
            delay = self.backoff.next_delay()
            log.info(
                "upstream websocket lost (%s); reconnecting in %.1f s", cause, delay
            )
            await asyncio.sleep(delay)

    async def _session_once(self) -> str | None:
        """One connection's life; the cause of its end, or None to stop for good."""
        try:
            ws = await self.session.ws_connect(
                self.url,
                timeout=aiohttp.ClientWSTimeout(ws_close=2.0),
                autoping=True,
                max_msg_size=64 * 1024 * 1024,
            )
        except aiohttp.WSServerHandshakeError as exc:
            return f"refused (HTTP {exc.status})"
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return f"unreachable ({type(exc).__name__})"
        self._ws = ws
        self._stale = False
        self._last_seen = time.monotonic()
        watchdog = asyncio.create_task(self._watch(ws))
        try:
            await self._authenticate(ws)
            return await self._read(ws)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return f"broken ({type(exc).__name__})"
        finally:
            watchdog.cancel()
            self._ws = None
            if not ws.closed:
                await ws.close()

    async def _authenticate(self, ws) -> None:
        if self.subscriptions is None:
            await ws.send_str(json.dumps({"api_key": self.api_key}))
        else:
            await self._send_subscriptions(ws)

    async def _send_subscriptions(self, ws) -> None:
        if not self.subscriptions:
            return  # upstream refuses an empty list; nothing to ask for yet
        try:
            await ws.send_str(
                json.dumps(
                    {"api_key": self.api_key, "subscriptions": self.subscriptions}
                )
            )
        except (aiohttp.ClientError, ConnectionError, RuntimeError):
            pass  # the reader sees the broken connection and reconnects

    def _up(self) -> None:
        """The connection carries data: reset the backoff, tell of a recovery."""
        self.connected = True
        self.backoff.reset()
        if self._degraded:
            self._degraded = False
            self.on_status("recovered", "")

    async def _read(self, ws) -> str | None:
        pinged = time.monotonic()
        while True:
            msg = await ws.receive()
            self._last_seen = now = time.monotonic()
            kind = msg.type
            if kind is aiohttp.WSMsgType.TEXT:
                self._frame(msg.data)
            elif kind is aiohttp.WSMsgType.CLOSE:
                return self._closed(msg.data, msg.extra or "")
            elif kind in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                if self._stopped:
                    return None
                return "stale" if self._stale else "dropped"
            if now - pinged > PING_EVERY_S:
                pinged = now
                await ws.send_str("ping")

    def _frame(self, text: str) -> None:
        if text == "pong":
            return
        message = json_object(text)
        if message is None:
            return
        if len(message) == 1:
            if "server_time" in message:
                return  # upstream's heartbeat: members get the gateway's own
            status = message.get("message")
            if status == "Connecting...":
                return
            if isinstance(status, str) and status.startswith("Connected to"):
                if not self.connected:
                    self._up()
                return
        if not self.connected and "message" not in message:
            self._up()
        self.on_frame(text, message)

    def _closed(self, code: int | None, reason: str) -> str | None:
        if self._stopped:
            return None
        if code == 1008 and any(r in reason.lower() for r in _FATAL):
            self._stopped = True
            self.on_fatal(reason)
            return None
        if code == 1011:
            return f"closed with an upstream error ({reason or 'no reason'})"
        return f"closed ({code} {reason})".strip()

    async def _watch(self, ws) -> None:
        while True:
            await asyncio.sleep(max(0.05, self.stale_after / 4))
            if time.monotonic() - self._last_seen > self.stale_after:
                log.warning("upstream websocket silent for %.0f s", self.stale_after)
                self._stale = True
                await ws.close(code=1001, message=b"stale")
                return
