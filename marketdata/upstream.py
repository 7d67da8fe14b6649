"""The market data upstream's REST client: one request, its answer streamed on.

Any failure before the first byte reaches the client is an UpstreamError (the gateway can
still answer it with a JSON error); after that, the connection error itself is raised, so
the client's connection is broken off too. Error messages never carry the upstream's
address or key.
"""

import asyncio

import aiohttp
from django.conf import settings

# Upstream response headers passed on to the client (lower case, as bytes).
PASS_HEADERS = frozenset(
    {
        b"content-type",
        b"content-length",
        b"cache-control",
        b"etag",
        b"last-modified",
        b"content-encoding",
    }
)


class UpstreamError(Exception):
    """The upstream failed before any byte reached the client: we can still answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class MarketUpstream:
    """Requests on the shared session to `base_url`, each with `timeout`."""

    __slots__ = ("session", "base_url", "timeout")

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        timeout: aiohttp.ClientTimeout,
    ) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    @classmethod
    def from_settings(cls, session: aiohttp.ClientSession) -> "MarketUpstream":
        """UPSTREAM_MARKET_URL, with MARKET_TIMEOUT per call."""
        return cls(
            session,
            settings.UPSTREAM_MARKET_URL,
            aiohttp.ClientTimeout(
                total=settings.MARKET_TIMEOUT, connect=settings.UPSTREAM_CONNECT_TIMEOUT
            ),
        )

    async def open(self, upstream_key: str, path: str, qs: str):
        """Send the request; its response once the headers are in."""
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
            raise UpstreamError(
                504,
                "UPSTREAM_TIMEOUT",
                "The market data upstream did not answer in time",
            ) from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(
                502,
                "UPSTREAM_UNAVAILABLE",
                f"The market data upstream could not be reached ({type(exc).__name__})",
            ) from None

    @staticmethod
    async def relay(send, response, method: str, extra: list):
        """Stream the upstream's answer to the client, with the `extra` headers after
        its own; (status, headers, body). A HEAD request gets the headers only."""
        async with response:
            status = response.status
            if status in (401, 407):
                # Our stored upstream key was refused: the member cannot fix that.
                raise UpstreamError(
                    502,
                    "UPSTREAM_AUTH_FAILED",
                    "The upstream refused this member's data key; "
                    "the operator has been told",
                )
            if status >= 500:
                raise UpstreamError(
                    502,
                    "UPSTREAM_ERROR",
                    f"The market data upstream failed (HTTP {status}); "
                    "try again shortly",
                )
            headers = [
                (lower, value)
                for name, value in response.raw_headers
                if (lower := name.lower()) in PASS_HEADERS
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
                    raise UpstreamError(
                        504,
                        "UPSTREAM_TIMEOUT",
                        "The market data upstream did not answer in time",
                    ) from None
                raise
            except aiohttp.ClientError:
                if first:
                    raise UpstreamError(
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


def discard(opening: asyncio.Task) -> None:
    """Drop a call started with `open` whose answer nobody will read: cancel it, or
    close its response."""

    def close(done: asyncio.Task) -> None:
        if not done.cancelled() and done.exception() is None:
            done.result().close()

    if opening.done():
        close(opening)
    else:
        opening.cancel()
        opening.add_done_callback(close)
