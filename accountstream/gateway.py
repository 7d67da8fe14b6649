"""`/v1/accounts/ws`: members' apps stream their brokerage accounts with an unchanged
Aries client, authenticating with their gateway key instead of an Aries token
(mounted in orgportal/asgi.py).

A connection's life, as Aries': authenticate within ACCOUNTS_WS_AUTH_SECONDS
(`POST /auth` request, the gateway key in `body.token`) or get `authTimeout` and a
close; `authSuccess` starts the gateway's own session (ACCOUNTS_WS_SESSION_SECONDS, a
`refreshAuth` warning before its end, `authExpired` and a close at it; authenticating
again on the same connection extends it); then subscribe / unsubscribe / ping. Only
active members with a brokerage link may authenticate; `account` and `pnl` only for
the member's linked accounts, `news` only with the news feed (ACCESS_DENIED
otherwise). Upstream, each member has one session in this process
(accountstream.streams, accountstream.upstream).

Members change under open connections: a change this process hears of (in-process, or
Redis pub/sub from others) rechecks that member at once; a sweep every second catches
expiry and, with Redis, compares each member's generation, so a missed message still
takes effect within 2 s. A revoked or rotated key, a cancelled, expired or deleted
member, or a removed link closes the member's connections; an account unlinked ends
just its subscriptions.
"""

import asyncio
import contextlib
import hashlib
import logging
import time

from django.conf import settings

from accountstream import links, protocol
from accountstream.client import AccountClient
from accountstream.streams import MemberStreams
from accountstream.upstream import Session
from marketdata.live.connections import WebSocketGateway
from marketdata.live.frames import json_object
from marketdata.live.link import Backoff
from marketdata.live.outbox import Outbox
from orgportal import clock
from orgportal.metrics import ACCOUNT_CONNECTIONS, ACCOUNT_DENIED, ACCOUNT_SESSIONS

log = logging.getLogger(__name__)

PATH = "/v1/accounts/ws"
SWEEP_EVERY_S = 1.0
GENERATION_EVERY = 2  # sweeps between generation checks (Redis only)
METER_EVERY = 5  # sweeps between handing traffic counts to the usage meter
POLICY, INTERNAL = 1008, 1011


class AccountGateway(WebSocketGateway):
    def __init__(self, runtime) -> None:
        super().__init__()
        self.runtime = runtime
        self.members: dict[int, MemberStreams] = {}
        self._loading: dict[int, asyncio.Future] = {}

    # --- lifecycle ----------------------------------------------------------------------

    async def startup(self) -> None:
        if self._started:
            return
        self._started = True
        await self.runtime.startup()
        self.runtime.on_member_change(self._member_changed)
        self.runtime.spawn(self._sweep())

    async def shutdown(self) -> None:
        if not self._started:
            return
        self.runtime.off_member_change(self._member_changed)
        for streams in list(self.members.values()):
            for client in list(streams.clients):
                client.close(1001, "server shutting down")
        await self._end_connections()
        for streams in list(self.members.values()):
            await self._end(streams)
        self._started = False

    # --- a connection -------------------------------------------------------------------

    def _connected(self, scope, peer: str, outbox: Outbox) -> AccountClient:
        ACCOUNT_CONNECTIONS.inc()
        return AccountClient(peer, outbox)

    async def _disconnected(self, client: AccountClient) -> None:
        ACCOUNT_CONNECTIONS.dec()
        self._forget(client)

    async def _read(self, client: AccountClient, receive) -> None:
        deadline = time.monotonic() + settings.ACCOUNTS_WS_AUTH_SECONDS
        while True:
            wait = None if client.access else max(deadline - time.monotonic(), 0.001)
            try:
                event = await asyncio.wait_for(receive(), wait)
            except TimeoutError:
                client.send(protocol.auth_timeout())
                client.close(POLICY, "authentication timeout")
                return
            if event["type"] == "websocket.disconnect":
                return
            text = event.get("text")
            if text is None:
                continue  # binary frames mean nothing here
            message = json_object(text)
            if message is not None:
                await self._message(client, message)

    async def _message(self, client: AccountClient, message: dict) -> None:
        kind = message.get("type")
        ident = protocol.request_id(message)
        if kind == "ping":
            client.send(protocol.pong(message.get("id")))
            return
        token = protocol.auth_token(message)
        if token is not None:
            await self._authenticate(client, token, ident)
            return
        if kind not in ("subscribe", "unsubscribe"):
            return  # unknown frames are ignored, never fatal
        if client.access is None:
            client.send(
                protocol.error(
                    ident, 401, "AUTH_REQUIRED", "authenticate first (POST /auth)"
                )
            )
            return
        try:
            sub = protocol.subscription(message)
        except protocol.Refused as exc:
            client.send(protocol.refused(ident, exc))
            return
        streams = self.members.get(client.member_id)
        if streams is None:  # ended meanwhile (the link was removed)
            return
        if kind == "unsubscribe":
            streams.unsubscribe(client, sub.key)
            client.send(protocol.unsubscribed(ident, sub))
            return
        denial = _denied(client, streams, sub)
        if denial is not None:
            ACCOUNT_DENIED.inc()
            client.send(protocol.error(ident, 403, "ACCESS_DENIED", denial))
            return
        streams.subscribe(client, sub, ident)

    async def _authenticate(self, client: AccountClient, token: str, ident) -> None:
        key_hash = hashlib.sha256(token.encode()).hexdigest()
        rt = self.runtime
        access = None
        if token and (not client.key_hash or key_hash == client.key_hash):
            access = rt.access.cached(key_hash) or await rt.access.get(key_hash)
        if access is None:
            client.send(
                protocol.error(
                    ident, 401, "INVALID_TOKEN", "token is invalid or expired"
                )
            )
            return
        refusal = access.refusal(clock.now())
        if refusal is not None:
            client.send(protocol.error(ident, 403, "ACCESS_DENIED", refusal[1]))
            client.close(POLICY, refusal[0].lower().replace("_", " "))
            return
        streams = await self._streams_of(access.member_id)
        if streams is None:
            client.send(
                protocol.error(
                    ident,
                    403,
                    "ACCESS_DENIED",
                    "No brokerage account is linked to this member",
                )
            )
            client.close(POLICY, "no brokerage link")
            return
        client.access, client.key_hash = access, key_hash
        streams.clients.add(client)
        if streams.teardown is not None:
            streams.teardown.cancel()
            streams.teardown = None
        self._start_session_clock(client)
        client.send(
            protocol.auth_success(
                ident, int(settings.ACCOUNTS_WS_SESSION_SECONDS * 1000)
            )
        )

    def _start_session_clock(self, client: AccountClient) -> None:
        """The gateway's own session for this client, from now."""
        loop = asyncio.get_running_loop()
        length = settings.ACCOUNTS_WS_SESSION_SECONDS
        warning = settings.ACCOUNTS_WS_REFRESH_WARNING_SECONDS
        client.cancel_timers()
        client.session_ends = time.monotonic() + length
        ends_ms = protocol.now_ms() + int(length * 1000)

        def warn() -> None:
            client.send(protocol.refresh_warning(int(warning * 1000), ends_ms))

        def expire() -> None:
            client.send(protocol.auth_expired())
            client.close(POLICY, "session expired")

        if length > warning:
            client.timers.append(loop.call_later(length - warning, warn))
        client.timers.append(loop.call_later(length, expire))

    def _meter(self, client: AccountClient) -> None:
        events, seconds = client.unmetered()
        if events or seconds:
            self.runtime.meter.record_accounts(
                client.member_id, clock.now().date(), events=events, seconds=seconds
            )

    def _forget(self, client: AccountClient) -> None:
        client.cancel_timers()
        if client.access is not None:
            self._meter(client)
        streams = self.members.get(client.member_id)
        if streams is None:
            return
        streams.leave(client)
        if not streams.clients and streams.teardown is None:
            loop = asyncio.get_running_loop()
            streams.teardown = loop.call_later(
                settings.ACCOUNTS_WS_UPSTREAM_GRACE_SECONDS,
                lambda: self.runtime.spawn(self._idle(streams)),
            )

    # --- a member's upstream session ----------------------------------------------------

    async def _streams_of(self, member_id: int) -> MemberStreams | None:
        streams = self.members.get(member_id)
        if streams is not None:
            return streams
        loading = self._loading.get(member_id)
        if loading is not None:  # another connection of the member is loading it
            return await asyncio.shield(loading)
        future = self._loading[member_id] = asyncio.get_running_loop().create_future()
        try:
            link = await links.load(member_id)
            streams = None
            if link is not None and not link.failed:
                streams = MemberStreams(member_id, link)
                streams.session = self._session(streams)
                self.members[member_id] = streams
                ACCOUNT_SESSIONS.inc()
            future.set_result(streams)
            return streams
        except BaseException as exc:
            future.set_exception(exc)
            raise
        finally:
            del self._loading[member_id]

    def _session(self, streams: MemberStreams) -> Session:
        member_id = streams.member_id

        def failed(reason: str) -> None:
            self._close_member(
                streams,
                protocol.error(
                    "system",
                    502,
                    "UPSTREAM_AUTH_FAILED",
                    f"The brokerage link can no longer authenticate: {reason}",
                ),
                INTERNAL,
                "brokerage link failed",
            )

        return Session(
            settings.UPSTREAM_ARIES_WS_URL,
            tokens=lambda: links.access_token(member_id),
            refresh=lambda rejected: links.refreshed_token(member_id, rejected),
            deliver=streams.deliver,
            reply=streams.reply,
            failed=failed,
            backoff=Backoff(
                settings.ACCOUNTS_WS_BACKOFF_BASE, settings.ACCOUNTS_WS_BACKOFF_CAP
            ),
        ).start()

    async def _idle(self, streams: MemberStreams) -> None:
        streams.teardown = None
        if not streams.clients and self.members.get(streams.member_id) is streams:
            await self._end(streams)

    async def _end(self, streams: MemberStreams) -> None:
        if self.members.get(streams.member_id) is streams:
            del self.members[streams.member_id]
            ACCOUNT_SESSIONS.dec()
        if streams.session is not None:
            await streams.session.stop()

    def _close_member(self, streams, frame: str, code: int, reason: str) -> None:
        for client in list(streams.clients):
            client.send(frame)
            client.close(code, reason)
        self.runtime.spawn(self._end(streams))

    # --- members change -----------------------------------------------------------------

    def _member_changed(self, member_id: int) -> None:
        if member_id in self.members:
            self.runtime.spawn(self._recheck(member_id))

    async def _recheck(self, member_id: int) -> None:
        streams = self.members.get(member_id)
        if streams is None:
            return
        now = clock.now()
        for client in list(streams.clients):
            access = await self.runtime.access.get(client.key_hash)
            refusal = access.refusal(now) if access is not None else None
            if access is None or refusal is not None:
                text = refusal[1] if refusal else "The gateway key was revoked"
                client.send(protocol.error("system", 401, "INVALID_TOKEN", text))
                client.close(POLICY, "access ended")
                continue
            client.access = access
            if not access.newsfeed and ("news",) in client.subscriptions:
                _, ident = client.subscriptions[("news",)]
                streams.unsubscribe(client, ("news",))
                client.send(
                    protocol.error(ident, 403, "ACCESS_DENIED", "News feed not in plan")
                )
        link = await links.load(member_id)
        if link is None or link.failed:
            self._close_member(
                streams,
                protocol.error(
                    "system", 403, "ACCESS_DENIED", "The brokerage link was removed"
                ),
                POLICY,
                "brokerage link removed",
            )
            return
        if link.linked_at != streams.link.linked_at:
            # A new token pair: a new upstream session, every subscription replayed
            # (each subscriber gets a fresh snapshot).
            old = streams.session
            streams.session = self._session(streams)
            streams.session.subscribed.update(old.subscribed)
            self.runtime.spawn(old.stop())
        for client, ident, account in streams.relink(link):
            client.send(
                protocol.error(
                    ident,
                    403,
                    "ACCESS_DENIED",
                    f"Account {account} is no longer linked to this member",
                )
            )

    async def _sweep(self) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            rounds += 1
            try:
                await self._sweep_once(rounds)
            except Exception:
                log.exception("account stream sweep failed; next one in a second")

    async def _sweep_once(self, rounds: int) -> None:
        now = clock.now()
        for streams in list(self.members.values()):
            for client in list(streams.clients):
                if rounds % METER_EVERY == 0:
                    self._meter(client)
                refusal = client.access.refusal(now)
                if refusal is not None and client.outbox.closed is None:
                    client.send(
                        protocol.error("system", 403, "ACCESS_DENIED", refusal[1])
                    )
                    client.close(POLICY, "access ended")
        if self.runtime.redis is None or rounds % GENERATION_EVERY:
            return
        held = {
            m: [c.access.generation for c in s.clients]
            for m, s in self.members.items()
            if s.clients
        }
        for member_id in await self.runtime.stale_members(held):
            with contextlib.suppress(Exception):
                await self._recheck(member_id)


def _denied(client: AccountClient, streams: MemberStreams, sub) -> str | None:
    account = sub.account_id
    if account is not None and account not in streams.link.account_ids:
        return f"Account {account} is not linked to this member"
    if sub.topic == "news" and not client.access.newsfeed:
        return "News feed not in plan"
    return None
