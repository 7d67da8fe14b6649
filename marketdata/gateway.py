"""The market data REST gateway: `/v3/...` as the upstream serves it, gated per member.

A lean ASGI handler mounted beside Django (orgportal/asgi.py): Django's request cycle
costs several times the proxying itself. Per request: the member's record from an
in-process cache, the plan's feature gates and data point clamp, one atomic limiter call
(rate limit and monthly quota), then the upstream call on the shared aiohttp session,
streamed back. Identical concurrent requests under one upstream key go upstream once and
slow-changing endpoints are cached briefly (marketdata.coalesce). With the Redis limiter
the upstream call may start beside the limiter call (marketdata.speculation). Every
request is metered per member and day.

What the web process's gateways share (session, limiter, member cache, meter) is the
Runtime (marketdata.runtime); this module only wires one request through them.
"""

import asyncio
import hashlib
import logging
import time
from urllib.parse import parse_qsl, urlencode

import aiohttp
from django.conf import settings
from redis.exceptions import RedisError

from marketdata import features, responses
from marketdata.coalesce import Coalescer, cacheable
from marketdata.context import RequestContext
from marketdata.db import in_thread
from marketdata.limits import month_key
from marketdata.responses import error, rate_limit_headers, refuse, reply, reply_copy
from marketdata.routes import route_template
from marketdata.runtime import Runtime
from marketdata.speculation import SpeculationPolicy
from marketdata.upstream import MarketUpstream, UpstreamError, discard
from members.services.quota import quota_flag
from orgportal import clock
from orgportal.metrics import HTTP_LATENCY, HTTP_REQUESTS, MARKET_SPECULATIVE
from orgportal.middleware import metric_method, request_id

log = logging.getLogger(__name__)

_REQUEST_ID = b"x-request-id"
_CACHE_HIT = (b"x-cache", b"hit")
_COALESCED = (b"x-coalesced", b"1")
_SPECULATED = MARKET_SPECULATIVE.labels("forwarded")
_WASTED = MARKET_SPECULATIVE.labels("wasted")


def _parse_query(raw: str) -> list[tuple[str, str]]:
    """parse_qsl(raw, keep_blank_values=True), without its per-parameter unquoting
    when there is nothing to unquote (no '%' or '+': the usual case)."""
    if "%" in raw or "+" in raw:
        return parse_qsl(raw, keep_blank_values=True)
    return [part.partition("=")[::2] for part in raw.split("&") if part]


class MarketGateway:
    """The ASGI handler for `/v3/...`, on the runtime it is given."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._started = False
        self._flagged_quota: set[tuple[int, str]] = set()
        # (method, route, status) -> its request counter and latency histogram: the
        # labels are resolved once, not per request.
        self._series: dict[tuple[str, str, int], tuple] = {}
        self.speculate = False

    # --- lifecycle ----------------------------------------------------------------------

    async def startup(self) -> None:
        """Start the runtime if it is not, then this gateway's own part. Settings are
        read at each start, never at import."""
        await self.runtime.startup()
        if self._started:
            return
        runtime = self.runtime
        # Held from here until shutdown: the gateway stops before the runtime does.
        self.access = runtime.access
        self.limiter = runtime.limiter
        self.meter = runtime.meter
        self.upstream = MarketUpstream.from_settings(runtime.session)
        self.coalesce = Coalescer(ttl=settings.MARKET_CACHE_TTL)
        self.policy = SpeculationPolicy()
        # Only a limiter with a round trip is worth overlapping.
        self.speculate = runtime.redis is not None and settings.MARKET_SPECULATE
        self._started = True

    async def shutdown(self) -> None:
        """Nothing of its own to close: its background work runs on the runtime."""
        self._started = False

    # The upstream's address and timeout (read on every call, so a change applies to
    # the next request).

    @property
    def base_url(self) -> str:
        return self.upstream.base_url

    @base_url.setter
    def base_url(self, value: str) -> None:
        self.upstream.base_url = value.rstrip("/")

    @property
    def timeout(self) -> aiohttp.ClientTimeout:
        return self.upstream.timeout

    @timeout.setter
    def timeout(self, value: aiohttp.ClientTimeout) -> None:
        self.upstream.timeout = value

    # --- the request --------------------------------------------------------------------

    async def __call__(self, scope, receive, send) -> None:
        """Serve one request. Every answer carries X-Request-ID and is counted by route
        and status; every request that reached a member is metered."""
        started = time.perf_counter()
        incoming = ""
        for name, value in scope["headers"]:
            if name == _REQUEST_ID:
                incoming = value.decode("latin-1")
                break
        tag = (_REQUEST_ID, request_id(incoming).encode())
        status = 500  # what the server answers if we fail before starting a response

        async def tagged(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message["headers"], tag]
            await send(message)

        try:
            if not self._started:
                await self.startup()
            now = clock.now()
            member_id, outcome = await self._handle(scope, tagged, now)
            if member_id is not None:
                self.meter.record(
                    member_id,
                    now.date(),
                    refused=outcome.get("refused"),
                    bytes_out=outcome.get("bytes", 0),
                    upstream_ms=outcome.get("upstream_ms", 0),
                )
        except RedisError:
            # Fail closed: without the shared counters no limit can be promised. Redis is
            # only used before anything is sent, so the answer is still ours to give.
            log.warning("limiter unavailable", extra={"path": scope["path"]})
            await refuse(
                tagged, *responses.LIMITS_UNAVAILABLE, extra=[(b"retry-after", b"1")]
            )
        except (aiohttp.ClientError, TimeoutError):
            # The upstream broke off after its headers were passed on: the only honest
            # thing left is to break this connection too, so the client sees it.
            log.warning(
                "upstream answer broken mid-body", extra={"path": scope["path"]}
            )
            raise
        finally:
            method = metric_method(scope["method"])
            route = route_template(scope["path"])
            series = self._series.get((method, route, status))
            if series is None:
                series = self._series[method, route, status] = (
                    HTTP_REQUESTS.labels(method, route, f"{status // 100}xx"),
                    HTTP_LATENCY.labels(method, route),
                )
            series[0].inc()
            series[1].observe(time.perf_counter() - started)

    @staticmethod
    async def _refuse(send, member_id, status, code, message, details=None, extra=()):
        """Answer with the error; (member id, outcome) for the meter."""
        await refuse(send, status, code, message, details, extra)
        return member_id, {"refused": code}

    async def _handle(self, scope, send, now):
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            allow = [(b"allow", b"GET")]
            return await self._refuse(
                send, None, *responses.METHOD_NOT_ALLOWED, extra=allow
            )
        token = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                token = token.strip() if scheme.lower() == "bearer" else None
                break
        if not token:
            return await self._refuse(send, None, *responses.MISSING_API_KEY)
        key_hash = hashlib.sha256(token.encode()).hexdigest()
        access = self.access.cached(key_hash) or await self.access.get(key_hash)
        if access is None:
            return await self._refuse(send, None, *responses.INVALID_API_KEY)

        raw_query = scope["query_string"].decode("latin-1")
        query = _parse_query(raw_query)
        path = scope["path"]
        ctx = RequestContext(
            send,
            method,
            path,
            key_hash,
            access,
            query,
            raw_query,
            features.required_feature(path, dict(query)),
            now,
            month_key(now),
            int(now.timestamp() * 1000),
        )
        try:
            return await self._gate(ctx)
        finally:
            if ctx.pending is not None:
                self._abandon(ctx.pending)

    async def _gate(self, ctx: RequestContext):
        """The checks, the limiter call and the forward; `ctx.pending` holds a
        speculative upstream call until _forward takes it (the caller abandons it
        else)."""
        send, access, feature = ctx.send, ctx.access, ctx.feature
        spec_qs = spec_note = None
        for attempt in range(3):  # a stale record is reloaded and checked again
            refusal = access.refusal(ctx.now)
            if refusal:
                return await self._refuse(send, access.member_id, 403, *refusal)
            if feature:
                refused = features.feature_refusal(
                    tier=access.tier,
                    plan=access.plan,
                    feature=feature,
                    newsfeed=access.newsfeed,
                )
                if refused:
                    return await self._refuse(
                        send,
                        access.member_id,
                        refused.status,
                        refused.code,
                        refused.message,
                        refused.details,
                    )
            if attempt == 0 and self.speculate and self.policy.may_speculate(access):
                spec_qs, spec_note = self._upstream_query(ctx)
                flight_key = (access.upstream_key, ctx.path, spec_qs)
                if self.coalesce.needs_upstream(flight_key, ctx.path, spec_qs):
                    ctx.pending = asyncio.create_task(
                        self.upstream.open(access.upstream_key, ctx.path, spec_qs)
                    )
                    # Let it write its request first (it is the longer leg); the
                    # limiter's command follows one loop turn later.
                    await asyncio.sleep(0)
            decision = await self.limiter.check(
                member_id=access.member_id,
                rate_limit=access.rate_limit,
                quota=access.quota,
                now_ms=ctx.now_ms,
                month=ctx.month,
                generation=access.generation,
            )
            if decision.reason != "stale":
                self.policy.remember(access, decision)
                break
            if ctx.pending is not None:  # the member changed: decide again, unhurried
                self._abandon(ctx.pending)
                ctx.pending = None
            access = ctx.access = await self.access.reload(ctx.key_hash)
            if access is None:
                return await self._refuse(send, None, *responses.INVALID_API_KEY)
        else:
            return await self._refuse(
                send, access.member_id, *responses.MEMBER_CHANGING
            )

        limit_headers = rate_limit_headers(
            access.rate_limit, decision.remaining, decision.reset_ms
        )
        if not decision.allowed:
            if decision.reason == "quota":
                self._flag_quota(access.member_id, ctx.month)
                refusal = responses.quota_exceeded(access.quota, ctx.month)
            else:
                reset_s = responses.reset_seconds(decision.reset_ms)
                refusal = responses.rate_limited(access.rate_limit, reset_s)
                limit_headers.append((b"retry-after", str(reset_s).encode()))
            return await self._refuse(
                send, access.member_id, *refusal, extra=limit_headers
            )

        if ctx.pending is not None:
            qs, note = spec_qs, spec_note
        else:
            qs, note = self._upstream_query(ctx)
        extra = limit_headers
        if note:
            extra = extra + [(b"x-orgportal-adjusted", note.encode())]
        outcome = await self._forward(ctx, qs, extra)
        return access.member_id, outcome

    @staticmethod
    def _upstream_query(ctx: RequestContext):
        """(query string, clamp note). The query goes upstream as the client wrote it,
        unless a value was clamped (or it is not plain ASCII): then re-encoded from the
        parsed parameters."""
        query, note = features.clamp_data_points(ctx.query, ctx.access.data_points_max)
        raw_query = ctx.raw_query
        qs = raw_query if note is None and raw_query.isascii() else urlencode(query)
        return qs, note

    @staticmethod
    def _abandon(task: asyncio.Task) -> None:
        """Drop a speculative upstream call whose answer the client may not see."""
        _WASTED.inc()
        discard(task)

    def _flag_quota(self, member_id: int, month: str) -> None:
        """Raise the member's quota flag (members.services.quota owns it), once a
        month per process; `month` is YYYYMM."""
        if (member_id, month) not in self._flagged_quota:
            self._flagged_quota.add((member_id, month))
            label = f"{month[:4]}-{month[4:]}"
            self.runtime.spawn(in_thread(quota_flag)(member_id=member_id, month=label))

    # --- the answer ---------------------------------------------------------------------

    async def _forward(self, ctx: RequestContext, qs: str, extra: list) -> dict:
        """Answer from the cache, a request in flight or the upstream. With a pending
        speculative call (taken over here) straight to the upstream."""
        coalesce, send, method, path = self.coalesce, ctx.send, ctx.method, ctx.path
        cache_key = (path, qs) if cacheable(path) else None
        speculative = ctx.pending
        if speculative is not None:
            ctx.pending = None
            _SPECULATED.inc()
        elif cache_key is not None:
            hit = coalesce.cached(cache_key)
            if hit is not None:
                await reply_copy(send, hit, extra, _CACHE_HIT, method)
                return {"bytes": len(hit[2])}
        upstream_key = ctx.access.upstream_key
        flight_key = (upstream_key, path, qs)
        future = coalesce.lead(flight_key)
        if future is None and speculative is None:  # another request leads: follow
            try:
                answer = await asyncio.shield(coalesce.leader(flight_key))
            except UpstreamError as exc:
                answer = error(exc.status, exc.code, exc.message)
            await reply_copy(send, answer, extra, _COALESCED, method)
            return {"bytes": len(answer[2])}

        started = time.perf_counter()
        try:
            if speculative is None:
                speculative = self.upstream.open(upstream_key, path, qs)
            answer = await self.upstream.relay(send, await speculative, method, extra)
        except UpstreamError as exc:
            coalesce.fail(flight_key, future, exc)
            status, headers, body = error(exc.status, exc.code, exc.message)
            await reply(send, status, headers + extra, body)
            return {"bytes": len(body), "upstream_ms": 0, "refused": exc.code}
        except BaseException as exc:
            coalesce.fail(flight_key, future, exc)
            raise
        coalesce.land(flight_key, future, answer, cache_key)
        return {
            "bytes": len(answer[2]),
            "upstream_ms": int((time.perf_counter() - started) * 1000),
        }
