"""The market data REST gateway: `/v3/...` as the upstream serves it, gated per member.

A lean ASGI handler mounted beside Django (orgportal/asgi.py): Django's request cycle
costs several times the proxying itself. Per request: the member's record from an
in-process cache, the plan's feature gates and data point clamp, one atomic limiter call
(rate limit and monthly quota), then the upstream call on a shared aiohttp session,
streamed back. Identical concurrent requests under one upstream key go upstream once;
slow-changing endpoints are cached briefly. Every request is metered per member and day.

Speculative forwarding (Redis limiter only): the limiter's round trip (0.2–0.3 ms on an
idle loopback Redis) would otherwise sit in front of every upstream call. When this
process's last verdict for the member is under SPECULATE_MAX_AGE_S old and showed
comfortable headroom, the upstream request is sent at the same time as the limiter call;
its answer reaches the client only once the limiter has allowed the request. The trade:
on a refusal (rate, quota, a member changed in another process) or a limiter error, the
upstream has received one request the client never sees. That waste is bounded by the
member's concurrency (and by the remembered headroom, which each speculation uses up),
which is why speculation only happens with headroom, where refusals are rare; wasted
calls are counted (orgportal_market_speculative_calls_total{outcome="wasted"}). A client
never gets more than its limits: nothing is sent to it before the verdict.
"""

import asyncio
import hashlib
import json
import logging
import re
import time
from urllib.parse import parse_qsl, urlencode

import aiohttp
from django.conf import settings
from redis.exceptions import RedisError

from marketdata import features
from marketdata.access import AccessCache
from marketdata.db import in_thread
from marketdata.limits import MemoryLimiter, RedisLimiter, month_key, redis_client
from marketdata.metering import Meter
from marketdata.routes import route_template
from members.services import cache_events
from orgportal import clock
from orgportal.metrics import HTTP_LATENCY, HTTP_REQUESTS, MARKET_SPECULATIVE
from orgportal.middleware import metric_method, request_id

log = logging.getLogger(__name__)

# Endpoints whose answers change slowly: cached for MARKET_CACHE_TTL seconds, shared by
# every member (the data does not depend on who asks; each request still counts).
_CACHEABLE = re.compile(
    r"^/v3/symbols/(search|exchanges|[^/]+/(info|session|contracts|fundamentals))$"
)
_PASS_HEADERS = {
    b"content-type",
    b"content-length",
    b"cache-control",
    b"etag",
    b"last-modified",
    b"content-encoding",
}
_JSON = (b"content-type", b"application/json")
_REQUEST_ID = b"x-request-id"

# Speculate only on a verdict this recent: a member that made a request in the last
# second is an active client (the latency-sensitive ones call many times a second), and
# within one second the 60-second window cannot drain far: 5 requests of headroom take
# other processes 5 requests in that second to use up. The limiter still decides every
# request; the age and headroom only keep the wasted upstream calls rare.
SPECULATE_MAX_AGE_S = 1.0
SPECULATE_MIN_REMAINING = 5  # and at least 20% of the member's rate limit
SPECULATE_MIN_QUOTA_LEFT = 20
_SPECULATED = MARKET_SPECULATIVE.labels("forwarded")
_WASTED = MARKET_SPECULATIVE.labels("wasted")


class _Upstream(Exception):
    """The upstream failed before any byte reached the client: we can still answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _parse_query(raw: str) -> list[tuple[str, str]]:
    """parse_qsl(raw, keep_blank_values=True), without its per-parameter unquoting
    when there is nothing to unquote (no '%' or '+': the usual case)."""
    if "%" in raw or "+" in raw:
        return parse_qsl(raw, keep_blank_values=True)
    return [part.partition("=")[::2] for part in raw.split("&") if part]


def _error(status: int, code: str, message: str, details: dict | None = None):
    body = json.dumps(
        {"error": message, "code": code, "details": details or {}}
    ).encode()
    return status, [_JSON, (b"content-length", str(len(body)).encode())], body


class MarketGateway:
    def __init__(self) -> None:
        self._started = False
        self._start_lock: asyncio.Lock | None = None
        self._tasks: list[asyncio.Task] = []
        self._inflight: dict[tuple, asyncio.Future] = {}
        self._cache: dict[tuple, tuple[float, int, list, bytes]] = {}
        self._flagged_quota: set[tuple[int, str]] = set()
        # member id -> (monotonic time, rate remaining, quota left or None when
        # unlimited) as of this process's last limiter verdict for the member.
        self._headroom: dict[int, tuple[float, int, int | None]] = {}
        # (method, route, status) -> its request counter and latency histogram: the
        # labels are resolved once, not per request.
        self._series: dict[tuple[str, str, int], tuple] = {}
        self.speculate = False

    # --- lifecycle ----------------------------------------------------------------------

    async def startup(self) -> None:
        if self._started:
            return
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._started:
                return
            self.base_url = settings.UPSTREAM_MARKET_URL.rstrip("/")
            self.cache_ttl = settings.MARKET_CACHE_TTL
            self.timeout = aiohttp.ClientTimeout(
                total=settings.MARKET_TIMEOUT, connect=settings.UPSTREAM_CONNECT_TIMEOUT
            )
            self.session = aiohttp.ClientSession(
                timeout=self.timeout,
                connector=aiohttp.TCPConnector(limit=256, ttl_dns_cache=300),
                auto_decompress=False,
            )
            self.redis = None
            if settings.REDIS_URL:
                self.redis = redis_client(settings.REDIS_URL)
                self.limiter = RedisLimiter(self.redis, settings.REDIS_KEY_PREFIX)
                self._tasks.append(asyncio.create_task(self._listen_changes()))
                # Only a limiter with a round trip is worth overlapping.
                self.speculate = settings.MARKET_SPECULATE
            else:
                self.speculate = False
                self.limiter = MemoryLimiter()
                cache_events.listen(self.limiter.bump)
            self._headroom.clear()
            self.access = AccessCache(self.limiter.generation)
            self.meter = Meter()
            self._tasks.append(
                asyncio.create_task(self.meter.run(settings.USAGE_FLUSH_INTERVAL))
            )
            self._started = True

    async def shutdown(self) -> None:
        if not self._started:
            return
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.meter.flush()
        await self.session.close()
        self.access.close()
        if self.redis is not None:
            self.limiter.close()
            await self.redis.aclose()
        else:
            cache_events.unlisten(self.limiter.bump)
        self._started = False

    async def _listen_changes(self) -> None:
        """Drop cached members changed in other processes as soon as they say so (the
        generation check is what guarantees the next request; this is the fast path)."""
        while True:
            try:
                pubsub = self.redis.pubsub()
                await pubsub.subscribe(cache_events.channel())
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        member_id = json.loads(message["data"])["member_id"]
                        self.access.invalidate(member_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("member change listener lost Redis; reconnecting")
                await asyncio.sleep(1)

    # --- the request --------------------------------------------------------------------

    async def __call__(self, scope, receive, send) -> None:
        """Every answer carries X-Request-ID and is counted by route and status."""
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
            await self._serve(scope, tagged)
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

    async def _serve(self, scope, send) -> None:
        if not self._started:
            await self.startup()
        now = clock.now()
        try:
            member_id, outcome = await self._handle(scope, send, now)
        except RedisError:
            # Fail closed: without the shared counters no limit can be promised. Redis is
            # only used before anything is sent, so the answer is still ours to give.
            log.warning("limiter unavailable", extra={"path": scope["path"]})
            await self._refuse(
                send,
                None,
                503,
                "LIMITS_UNAVAILABLE",
                "Usage limits cannot be checked right now; retry shortly",
                extra=[(b"retry-after", b"1")],
            )
            return
        except (aiohttp.ClientError, TimeoutError):
            # The upstream broke off after its headers were passed on: the only honest
            # thing left is to break this connection too, so the client sees it.
            log.warning(
                "upstream answer broken mid-body", extra={"path": scope["path"]}
            )
            raise
        if member_id is not None:
            self.meter.record(
                member_id,
                now.date(),
                refused=outcome.get("refused"),
                bytes_out=outcome.get("bytes", 0),
                upstream_ms=outcome.get("upstream_ms", 0),
            )

    async def _reply(self, send, status: int, headers: list, body: bytes) -> None:
        await send(
            {"type": "http.response.start", "status": status, "headers": headers}
        )
        await send({"type": "http.response.body", "body": body})

    async def _refuse(
        self, send, member_id, status, code, message, details=None, extra=()
    ):
        status, headers, body = _error(status, code, message, details)
        await self._reply(send, status, headers + list(extra), body)
        return member_id, {"refused": code}

    async def _handle(self, scope, send, now):
        if scope["method"] not in ("GET", "HEAD"):
            return await self._refuse(
                send,
                None,
                405,
                "METHOD_NOT_ALLOWED",
                "The market data API is read-only",
                extra=[(b"allow", b"GET")],
            )
        token = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                token = token.strip() if scheme.lower() == "bearer" else None
                break
        if not token:
            return await self._refuse(
                send,
                None,
                401,
                "MISSING_API_KEY",
                "Send your gateway key as Authorization: Bearer <key>",
            )
        key_hash = hashlib.sha256(token.encode()).hexdigest()
        access = self.access.cached(key_hash) or await self.access.get(key_hash)
        if access is None:
            return await self._refuse(
                send, None, 401, "INVALID_API_KEY", "Invalid or revoked gateway key"
            )

        raw_query = scope["query_string"].decode("latin-1")
        query = _parse_query(raw_query)
        path = scope["path"]
        feature = features.required_feature(path, dict(query))
        month = month_key(now)
        now_ms = int(now.timestamp() * 1000)
        pending: list[asyncio.Task] = []  # a speculative upstream call, not yet used
        try:
            return await self._gate(
                scope,
                send,
                key_hash,
                access,
                query,
                raw_query,
                path,
                feature,
                now,
                month,
                now_ms,
                pending,
            )
        finally:
            if pending:
                self._abandon(pending[0])

    async def _gate(
        self,
        scope,
        send,
        key_hash,
        access,
        query,
        raw_query,
        path,
        feature,
        now,
        month,
        now_ms,
        pending,
    ):
        """The checks, the limiter call and the forward; `pending` holds a speculative
        upstream call until it is handed to _forward (the caller abandons it else)."""
        spec_qs = spec_note = None
        for attempt in range(3):  # a stale record is reloaded and checked again
            refusal = access.refusal(now)
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
            if attempt == 0 and self.speculate and self._may_speculate(access):
                spec_qs, spec_note = self._upstream_query(access, query, raw_query)
                if self._may_forward_now(access, path, spec_qs):
                    pending.append(
                        asyncio.create_task(
                            self._open(access.upstream_key, path, spec_qs)
                        )
                    )
                    # Let it write its request first (it is the longer leg); the
                    # limiter's command follows one loop turn later.
                    await asyncio.sleep(0)
            decision = await self.limiter.check(
                member_id=access.member_id,
                rate_limit=access.rate_limit,
                quota=access.quota,
                now_ms=now_ms,
                month=month,
                generation=access.generation,
            )
            if decision.reason != "stale":
                self._remember(access, decision)
                break
            if pending:  # the member changed: its record decides again, unhurried
                self._abandon(pending.pop())
            access = await self.access.reload(key_hash)
            if access is None:
                return await self._refuse(
                    send, None, 401, "INVALID_API_KEY", "Invalid or revoked gateway key"
                )
        else:
            return await self._refuse(
                send,
                access.member_id,
                503,
                "MEMBER_CHANGING",
                "The member is being changed; retry in a moment",
            )

        reset_s = max(1, -(-decision.reset_ms // 1000))
        limit, remaining = access.rate_limit, decision.remaining
        limit_headers = [
            (b"ratelimit-policy", b'"minute";q=%d;w=60' % limit),
            (b"ratelimit", b'"minute";r=%d;t=%d' % (remaining, reset_s)),
            (b"ratelimit-limit", b"%d" % limit),
            (b"ratelimit-remaining", b"%d" % remaining),
            (b"ratelimit-reset", b"%d" % reset_s),
        ]
        if not decision.allowed:
            if decision.reason == "quota":
                self._flag_quota(access.member_id, month)
                return await self._refuse(
                    send,
                    access.member_id,
                    429,
                    "QUOTA_EXCEEDED",
                    f"The monthly quota of {access.quota:,} requests is used up",
                    {"quota": access.quota, "month": f"{month[:4]}-{month[4:]}"},
                    extra=limit_headers,
                )
            return await self._refuse(
                send,
                access.member_id,
                429,
                "RATE_LIMITED",
                f"Rate limit of {access.rate_limit} requests per minute exceeded; retry "
                f"in {reset_s} s",
                {"limit": access.rate_limit, "retry_after": reset_s},
                extra=limit_headers + [(b"retry-after", str(reset_s).encode())],
            )

        if pending:
            qs, note = spec_qs, spec_note
        else:
            qs, note = self._upstream_query(access, query, raw_query)
        extra = limit_headers
        if note:
            extra = extra + [(b"x-orgportal-adjusted", note.encode())]
        outcome = await self._forward(
            send, access, path, qs, scope["method"], extra, pending
        )
        return access.member_id, outcome

    @staticmethod
    def _upstream_query(access, query, raw_query):
        """(query string, clamp note). The query goes upstream as the client wrote it,
        unless a value was clamped (or it is not plain ASCII): then re-encoded from the
        parsed parameters."""
        query, note = features.clamp_data_points(query, access.data_points_max)
        qs = raw_query if note is None and raw_query.isascii() else urlencode(query)
        return qs, note

    # --- speculation --------------------------------------------------------------------

    def _remember(self, access, decision) -> None:
        if len(self._headroom) > 100_000:
            self._headroom.clear()
        quota_left = access.quota - decision.quota_used if access.quota > 0 else None
        if not decision.allowed:
            quota_left = 0 if decision.reason == "quota" else quota_left
        self._headroom[access.member_id] = (
            time.monotonic(),
            decision.remaining,
            quota_left,
        )

    def _may_speculate(self, access) -> bool:
        """True (and one request of the remembered headroom used up) when the last
        verdict is recent and far from every limit."""
        memo = self._headroom.get(access.member_id)
        if memo is None:
            return False
        at, remaining, quota_left = memo
        if time.monotonic() - at > SPECULATE_MAX_AGE_S:
            return False
        if remaining < max(SPECULATE_MIN_REMAINING, access.rate_limit // 5):
            return False
        if quota_left is not None and quota_left < SPECULATE_MIN_QUOTA_LEFT:
            return False
        self._headroom[access.member_id] = (
            at,
            remaining - 1,
            None if quota_left is None else quota_left - 1,
        )
        return True

    def _may_forward_now(self, access, path, qs) -> bool:
        """A cached or coalesced answer needs no upstream call: those keep the plain
        order (count, then answer)."""
        if _CACHEABLE.match(path):
            hit = self._cache.get((path, qs))
            if hit is not None and hit[0] > time.monotonic():
                return False
        return (access.upstream_key, path, qs) not in self._inflight

    @staticmethod
    def _abandon(task: asyncio.Task) -> None:
        """Drop a speculative upstream call whose answer the client may not see."""
        _WASTED.inc()

        def close(done: asyncio.Task) -> None:
            if not done.cancelled() and done.exception() is None:
                done.result().close()

        if task.done():
            close(task)
        else:
            task.cancel()
            task.add_done_callback(close)

    def _flag_quota(self, member_id: int, month: str) -> None:
        if (member_id, month) in self._flagged_quota:
            return
        self._flagged_quota.add((member_id, month))
        from members.models import Member

        async def flag():
            await in_thread(
                lambda: Member.objects.filter(pk=member_id).update(quota_exceeded=True)
            )()

        self._tasks.append(asyncio.create_task(flag()))

    # --- upstream -----------------------------------------------------------------------

    async def _forward(self, send, access, path, qs, method, extra, pending) -> dict:
        """Answer from the cache, a request in flight or the upstream. With `pending`
        (a speculative call, taken over here) straight to the upstream."""
        cache_key = (path, qs) if _CACHEABLE.match(path) else None
        speculative = pending.pop() if pending else None
        if speculative is not None:
            _SPECULATED.inc()
        elif cache_key is not None:
            hit = self._cache.get(cache_key)
            if hit is not None and hit[0] > time.monotonic():
                _, status, headers, body = hit
                await self._reply(
                    send,
                    status,
                    headers + extra + [(b"x-cache", b"hit")],
                    body if method == "GET" else b"",
                )
                return {"bytes": len(body)}
        flight_key = (access.upstream_key, path, qs)
        leader = None if speculative else self._inflight.get(flight_key)
        if leader is not None:
            try:
                status, headers, body = await asyncio.shield(leader)
            except _Upstream as exc:
                status, headers, body = _error(exc.status, exc.code, exc.message)
            await self._reply(
                send,
                status,
                headers + extra + [(b"x-coalesced", b"1")],
                body if method == "GET" else b"",
            )
            return {"bytes": len(body)}

        future = asyncio.get_running_loop().create_future()
        # A speculative call may find another leader arrived meanwhile: it keeps its
        # place (followers already wait on it), this request answers on its own.
        leading = self._inflight.setdefault(flight_key, future) is future
        started = time.perf_counter()
        try:
            if speculative is None:
                speculative = self._open(access.upstream_key, path, qs)
            status, headers, body = await self._relay(
                send, await speculative, method, extra
            )
        except _Upstream as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: followers re-raise their own copy
            status, headers, body = _error(exc.status, exc.code, exc.message)
            await self._reply(send, status, headers + extra, body)
            return {"bytes": len(body), "upstream_ms": 0, "refused": exc.code}
        except BaseException as exc:
            future.set_exception(
                _Upstream(
                    502, "UPSTREAM_BROKEN", "The upstream connection broke mid-answer"
                )
            )
            future.exception()
            raise exc
        finally:
            if leading:
                self._inflight.pop(flight_key, None)
        future.set_result((status, headers, body))
        if cache_key is not None and status == 200:
            self._cache[cache_key] = (
                time.monotonic() + self.cache_ttl,
                status,
                headers,
                body,
            )
            if len(self._cache) > 5_000:
                self._cache.clear()
        return {
            "bytes": len(body),
            "upstream_ms": int((time.perf_counter() - started) * 1000),
        }

    async def _open(self, upstream_key, path, qs):
        """Send the upstream request; its response once the headers are in."""
        url = f"{self.base_url}{path}" + (f"?{qs}" if qs else "")
        try:
            return await self.session.get(
                url,
                headers={
                    "Authorization": f"Bearer {upstream_key}",
                    "Accept": "application/json",
                },
                allow_redirects=False,
                timeout=self.timeout,
            )
        except TimeoutError:
            raise _Upstream(
                504,
                "UPSTREAM_TIMEOUT",
                "The market data upstream did not answer in time",
            ) from None
        except aiohttp.ClientError as exc:
            raise _Upstream(
                502,
                "UPSTREAM_UNAVAILABLE",
                f"The market data upstream could not be reached ({type(exc).__name__})",
            ) from None

    async def _relay(self, send, response, method, extra):
        """Stream the upstream's answer to the client; (status, headers, body)."""
        async with response:
            status = response.status
            if status in (401, 407):
                # Our stored upstream key was refused: the member cannot fix that.
                raise _Upstream(
                    502,
                    "UPSTREAM_AUTH_FAILED",
                    "The upstream refused this member's data key; "
                    "the operator has been told",
                )
            if status >= 500:
                raise _Upstream(
                    502,
                    "UPSTREAM_ERROR",
                    f"The market data upstream failed (HTTP {status}); "
                    "try again shortly",
                )
            headers = [
                (lower, value)
                for name, value in response.raw_headers
                if (lower := name.lower()) in _PASS_HEADERS
            ]
            chunks: list[bytes] = []
            first = True
            try:
                async for chunk in response.content.iter_any():
                    if first:
                        await send(
                            {
                                "type": "http.response.start",
                                "status": status,
                                "headers": headers + extra,
                            }
                        )
                        first = False
                    chunks.append(chunk)
                    if method == "GET":
                        await send(
                            {
                                "type": "http.response.body",
                                "body": chunk,
                                "more_body": True,
                            }
                        )
            except TimeoutError:
                if first:
                    raise _Upstream(
                        504,
                        "UPSTREAM_TIMEOUT",
                        "The market data upstream did not answer in time",
                    ) from None
                raise
            except aiohttp.ClientError:
                if first:
                    raise _Upstream(
                        502,
                        "UPSTREAM_BROKEN",
                        "The market data upstream broke off its answer",
                    ) from None
                raise  # headers are out: abort the connection so the client sees it
            if first:
                await send(
                    {
                        "type": "http.response.start",
                        "status": status,
                        "headers": headers + extra,
                    }
                )
            await send({"type": "http.response.body", "body": b""})
        return status, headers, b"".join(chunks)
