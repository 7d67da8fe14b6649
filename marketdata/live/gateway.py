"""The `/live` and `/newsfeed` ASGI WebSocket handler (mounted in orgportal/asgi.py).

A connection's life: accept, `{"message": "Connecting..."}`, then the first message
(the subscription, or on /newsfeed the key alone) within MARKET_WS_FIRST_MESSAGE_SECONDS
or a clear close. The gateway key in `api_key` decides who it is (the same cached
records as the REST gateway, marketdata.access); a /live connection takes one of the
member's connection slots (marketdata.live.slots); each subscription message is counted
(300 per 5 minutes) and checked against the plan (marketdata.live.rules) before the feed
(member or pooled mode) gets it. Text `ping` is answered `pong`; unknown frames are
ignored. Each client has its own writer (marketdata.live.outbox).

Members change under open connections: a change this process hears of (in-process, or
Redis pub/sub from others) rechecks that member's connections at once; a sweep every
second closes expired members, renews slots and, with Redis, compares each member's
generation, so a missed message still takes effect within SWEEP_EVERY_S * GENERATION_EVERY
(2 s). Revoked, rotated, cancelled, expired and deleted members are closed; a lowered
plan trims subscriptions (or closes the newest connections over a lowered limit).
"""

import asyncio
import contextlib
import hashlib
import logging
import time

from django.conf import settings
from redis.exceptions import RedisError

from marketdata.live import closes, registry, rules
from marketdata.live.client import Client
from marketdata.live.connections import WebSocketGateway
from marketdata.live.frames import json_object
from marketdata.live.member_feed import MemberFeed
from marketdata.live.outbox import Outbox
from marketdata.live.pool import PooledFeed
from marketdata.live.slots import (
    MESSAGE_LIMIT,
    MESSAGE_WINDOW_S,
    MemorySlots,
    RedisSlots,
)
from marketdata.once import StartOnce
from orgportal import clock
from orgportal.metrics import WS_CONNECTIONS, WS_REFUSALS, WS_SUBSCRIPTIONS

log = logging.getLogger(__name__)

PATHS = ("/live", "/newsfeed")
SWEEP_EVERY_S = 1.0
GENERATION_EVERY = 2  # sweeps between generation checks (Redis only)
METER_EVERY = 5  # sweeps between handing traffic counts to the usage meter


def ws_base_url() -> str:
    if settings.MARKET_WS_URL:
        return settings.MARKET_WS_URL.rstrip("/")
    base = settings.UPSTREAM_MARKET_URL.rstrip("/")
    return base.replace("https://", "wss://", 1).replace("http://", "ws://", 1)


class LiveGateway(WebSocketGateway):
    def __init__(self, runtime) -> None:
        super().__init__()
        self.runtime = runtime
        self.clients: dict[int, set[Client]] = {}  # member id -> open connections
        self._once = StartOnce(lambda: self._started)
        self.feed = None

    # --- lifecycle ----------------------------------------------------------------------

    async def startup(self) -> None:
        await self._once.run(self._start)

    async def _start(self) -> None:
        await self.runtime.startup()
        rt = self.runtime
        lease = settings.MARKET_WS_LEASE_SECONDS
        if rt.redis is not None:
            self.slots = RedisSlots(rt.redis, settings.REDIS_KEY_PREFIX, lease)
        else:
            self.slots = MemorySlots(lease)
        backoff = (settings.MARKET_WS_BACKOFF_BASE, settings.MARKET_WS_BACKOFF_CAP)
        if settings.MARKET_WS_MODE == "pooled":
            self.feed = PooledFeed(
                rt.streams_session,
                ws_base_url(),
                settings.MARKET_WS_POOL_KEY,
                stale_after=settings.MARKET_WS_STALE_SECONDS,
                backoff=backoff,
                per_connection=settings.MARKET_WS_POOL_SUBSCRIPTIONS,
                max_connections=settings.MARKET_WS_POOL_CONNECTIONS,
                grace_s=settings.MARKET_WS_POOL_GRACE_SECONDS,
            )
        else:
            self.feed = MemberFeed(
                rt.streams_session,
                ws_base_url(),
                stale_after=settings.MARKET_WS_STALE_SECONDS,
                backoff=backoff,
            )
        await self.feed.start()
        rt.on_member_change(self._member_changed)
        rt.spawn(self._sweep())
        registry.serve_locally(asyncio.get_running_loop(), self)
        if rt.redis is not None:
            rt.spawn(registry.listen(rt.redis, self))
        self._started = True

    async def shutdown(self) -> None:
        if not self._started:
            return
        self.runtime.off_member_change(self._member_changed)
        registry.stop_serving_locally(self)
        for client in [c for group in self.clients.values() for c in group]:
            client.close(*closes.SHUTTING_DOWN)
        # Their usage is metered before the runtime's last flush.
        late = await self._end_connections()
        await asyncio.gather(*late, return_exceptions=True)
        await self.feed.stop()
        self._started = False
        self._once.reset()

    # --- a connection -------------------------------------------------------------------

    def _refusal(self, scope) -> int | None:
        return None if scope["path"] in PATHS else closes.POLICY

    def _connected(self, scope, peer: str, outbox: Outbox) -> Client:
        client = Client(scope["path"], peer, outbox)
        client.say(closes.CONNECTING)
        WS_CONNECTIONS.labels(client.path).inc()
        return client

    async def _disconnected(self, client: Client) -> None:
        WS_CONNECTIONS.labels(client.path).dec()
        await self._forget(client)

    async def _read(self, client: Client, receive) -> None:
        deadline = time.monotonic() + settings.MARKET_WS_FIRST_MESSAGE_SECONDS
        while client.access is None:  # before the first message
            left = deadline - time.monotonic()
            try:
                event = await asyncio.wait_for(receive(), max(left, 0.001))
            except TimeoutError:
                self._refused(None, "FIRST_MESSAGE_TIMEOUT")
                client.close(
                    *closes.first_message_timeout(
                        settings.MARKET_WS_FIRST_MESSAGE_SECONDS
                    )
                )
                return
            message = self._frame(client, event)
            if message is _GONE:
                return
            if message is None or not isinstance(message.get("api_key"), str):
                continue
            if client.path == "/live" and "subscriptions" not in message:
                continue  # e.g. {"type": "auth", ...} first: not fatal
            if not await self._admit(client, message["api_key"]):
                return
            if client.path == "/live":
                await self._subscribe(client, message)
        while True:
            message = self._frame(client, await receive())
            if message is _GONE:
                return
            if (
                message is not None
                and client.path == "/live"
                and "subscriptions" in message
            ):
                await self._subscribe(client, message)

    def _frame(self, client: Client, event: dict):
        """The JSON object a frame carries; None for anything else; _GONE on close."""
        if event["type"] == "websocket.disconnect":
            return _GONE
        text = event.get("text")
        if text is None:
            return None  # binary frames mean nothing here
        if text == "ping":
            client.say("pong")
            return None
        return json_object(text)

    async def _admit(self, client: Client, token: str) -> bool:
        key_hash = hashlib.sha256(token.encode()).hexdigest()
        rt = self.runtime
        access = rt.access.cached(key_hash) or await rt.access.get(key_hash)
        if access is None:
            self._refused(None, "INVALID_API_KEY")
            client.close(*closes.INVALID_KEY, message=closes.message("Invalid API key"))
            return False
        refusal = access.refusal(clock.now())
        if refusal:
            self._refused(access.member_id, refusal[0])
            client.close(
                *closes.member_refused(refusal[0]), message=closes.message(refusal[1])
            )
            return False
        if client.path == "/newsfeed" and not access.newsfeed:
            self._refused(access.member_id, "NEWSFEED_NOT_IN_PLAN")
            client.close(
                *closes.NEWSFEED_NOT_IN_PLAN,
                message=closes.message("News feed not in plan"),
            )
            return False
        client.token, client.key_hash = token, key_hash
        client.admit(access)
        if client.path == "/live":
            slot = self.slots.name(client.id)
            try:
                held = await self.slots.hold(
                    access.member_id, slot, access.websocket_connections
                )
            except RedisError:
                client.close(*closes.LIMITS_UNAVAILABLE)
                return False
            if not held:
                limit = access.websocket_connections
                self._refused(access.member_id, "CONNECTION_LIMIT")
                client.close(
                    *closes.connection_limit(limit),
                    message=closes.message(
                        f"Connection limit exceeded: {limit} allowed"
                    ),
                )
                return False
            client.slot = slot
        self.clients.setdefault(access.member_id, set()).add(client)
        client.say(closes.CONNECTED)
        if client.path == "/newsfeed":
            self.feed.attach(client)
            self._list(access.member_id)
        return True

    async def _subscribe(self, client: Client, message: dict) -> None:
        if message.get("api_key") != client.token:
            client.say(
                closes.message(
                    "api_key must be the key this connection was opened with"
                )
            )
            return
        try:
            counted = await self.slots.count_message(
                client.member_id, f"{client.id}:{time.monotonic_ns()}"
            )
        except RedisError:
            counted = True  # fail open: upstream applies the same limit itself
        if not counted:
            self._refused(client.member_id, "SUBSCRIPTION_MESSAGE_RATE")
            client.say(closes.too_many_messages(MESSAGE_LIMIT, MESSAGE_WINDOW_S))
            return
        try:
            accepted, notes = rules.check(message, client.plan)
        except rules.Refused as exc:
            self._refused(client.member_id, "SUBSCRIPTION_REFUSED")
            client.say(closes.message(str(exc)))
            return
        for note in notes:
            client.say(closes.message(note))
        self._apply(client, accepted)

    def _apply(self, client: Client, accepted: list) -> None:
        WS_SUBSCRIPTIONS.inc(rules.count(accepted) - rules.count(client.subscriptions))
        first = client.feed_state is None
        client.subscriptions = accepted
        if first:
            self.feed.attach(client)
        self.feed.replace(client)
        self._list(client.member_id)

    def _list(self, *member_ids: int) -> None:
        """Refresh the operators' listing of these members' connections (Redis)."""
        redis = self.runtime.redis
        if redis is None:
            return
        listings = {
            m: [c.describe() for c in self.clients.get(m, ())] for m in member_ids
        }

        async def publish():
            with contextlib.suppress(RedisError, OSError):
                await registry.publish(redis, listings)

        self.runtime.spawn(publish())

    async def _forget(self, client: Client) -> None:
        if client.access is None:
            return
        member_id = client.member_id
        group = self.clients.get(member_id)
        if group is not None:
            group.discard(client)
            if not group:
                del self.clients[member_id]
        WS_SUBSCRIPTIONS.dec(rules.count(client.subscriptions))
        if client.feed_state is not None:
            await self.feed.detach(client)
        if client.slot is not None:
            with contextlib.suppress(RedisError):
                await self.slots.release(member_id, client.slot)
        with contextlib.suppress(RedisError, OSError):
            await registry.unpublish(self.runtime.redis, member_id, client.id)
        self._meter(client)

    def _meter(self, client: Client) -> None:
        """Hand what the client was sent since the last time to the usage meter."""
        messages, sent, seconds = client.unmetered()
        if messages or sent or seconds:
            self.runtime.meter.record_stream(
                client.member_id,
                clock.now().date(),
                messages=messages,
                bytes_out=sent,
                seconds=seconds,
            )

    def _refused(self, member_id: int | None, reason: str) -> None:
        WS_REFUSALS.labels(reason).inc()
        if member_id is not None:
            self.runtime.meter.record(
                member_id,
                clock.now().date(),
                refused=f"WS_{reason}",
                bytes_out=0,
                upstream_ms=0,
            )

    # --- members changing under open connections ---------------------------------------

    def _member_changed(self, member_id: int) -> None:
        if member_id in self.clients:
            self.runtime.spawn(self._recheck(member_id))

    async def _recheck(self, member_id: int) -> None:
        for client in sorted(
            self.clients.get(member_id, ()), key=lambda c: c.slot or ""
        ):
            await self._recheck_client(client)

    async def _recheck_client(self, client: Client) -> None:
        if client.outbox.closed is not None:
            return
        access = await self.runtime.access.get(client.key_hash)
        if access is None:
            client.close(*closes.KEY_REVOKED, message=closes.message("API key revoked"))
            return
        refusal = access.refusal(clock.now())
        if refusal:
            client.close(
                *closes.member_refused(refusal[0]), message=closes.message(refusal[1])
            )
            return
        if client.path == "/newsfeed":
            if not access.newsfeed:
                client.close(
                    *closes.NEWSFEED_NOT_IN_PLAN,
                    message=closes.message("News feed not in plan"),
                )
            client.access = access
            return
        client.admit(access)
        if client.slot is not None and not await self._keep_slot(client, lowered=True):
            return
        kept = rules.trim(client.subscriptions, client.plan)
        if len(kept) != len(client.subscriptions):
            dropped = [s.code for s in client.subscriptions if s not in kept]
            client.say(closes.trimmed(client.plan.symbols, dropped))
            self._apply(client, kept)

    async def _sweep(self) -> None:
        """Every second: expiry, slot renewal (every lease/3), generations (Redis)."""
        rounds = 0
        renew_every = max(1, int(self.slots.lease_ms / 3000 / SWEEP_EVERY_S))
        heartbeat_every = max(
            1, round(settings.MARKET_WS_HEARTBEAT_SECONDS / SWEEP_EVERY_S)
        )
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            rounds += 1
            try:
                await self._sweep_once(rounds, renew_every, heartbeat_every)
            except Exception:
                log.exception("websocket sweep failed; next one in a second")

    async def _sweep_once(self, rounds: int, renew_every: int, heartbeat_every: int):
        now = clock.now()
        clients = [c for group in self.clients.values() for c in group]
        if rounds % heartbeat_every == 0:
            beat = f'{{"server_time": {int(time.time() * 1000)}}}'
            for client in clients:
                client.say(beat)
        for client in clients:
            refusal = client.access.refusal(now)
            if refusal and client.outbox.closed is None:
                client.close(
                    *closes.member_refused(refusal[0]),
                    message=closes.message(refusal[1]),
                )
        if rounds % renew_every == 0:
            for client in clients:
                if client.slot is not None and client.outbox.closed is None:
                    await self._keep_slot(client)
        # Each member's traffic metered and listing renewed every METER_EVERY rounds,
        # a share of the members each round, so no round stalls the loop.
        turn = [m for m in self.clients if m % METER_EVERY == rounds % METER_EVERY]
        for member_id in turn:
            for client in self.clients[member_id]:
                self._meter(client)
        if turn:
            self._list(*turn)
        if self.runtime.redis is not None and rounds % GENERATION_EVERY == 0:
            await self._check_generations()

    async def _keep_slot(self, client: Client, *, lowered: bool = False) -> bool:
        """Renew the client's slot under its member's current limit; close it (and
        return False) when the member has no slot for it any more. A Redis failure
        keeps what was granted: the next sweep asks again."""
        limit = client.access.websocket_connections
        try:
            held = await self.slots.hold(client.member_id, client.slot, limit)
        except RedisError:
            return True
        if not held:
            text = f"Connection limit lowered to {limit}; this connection was closed"
            client.close(
                *closes.connection_limit(limit),
                message=closes.message(text) if lowered else None,
            )
        return held

    async def _check_generations(self) -> None:
        held = {m: [c.access.generation for c in g] for m, g in self.clients.items()}
        for member_id in await self.runtime.stale_members(held):
            await self._recheck(member_id)

    def connections_of(self, member_id: int) -> list[dict]:
        return [c.describe() for c in self.clients.get(member_id, ())]

    def disconnect(self, member_id: int, connection_id: str | None = None) -> int:
        closed = 0
        for client in list(self.clients.get(member_id, ())):
            if connection_id is None or client.id == connection_id:
                client.close(
                    *closes.DISCONNECTED_BY_OPERATOR,
                    message=closes.message("Disconnected by the operator"),
                )
                closed += 1
        return closed


_GONE = object()
