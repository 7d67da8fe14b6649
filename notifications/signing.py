"""Outbound webhooks: the signature scheme and the one HTTP call that sends them.

Signature, Stripe-style: `Orgportal-Signature: t=<unix seconds>,v1=<hex>` where `<hex>` is
HMAC-SHA256 keyed with the endpoint's whole secret (`whsec_...`) over `f"{t}.{raw body}"`.
Receivers check it with `verify` (or the same ten lines in their language) on the raw bytes
they received, before parsing the JSON. During a secret rotation a header may carry
several `v1=` values; one match is enough.
"""

import datetime as dt
import hashlib
import hmac
import time
from dataclasses import dataclass

import httpx
from django.conf import settings

from outbound import http as outbound_http
from outbound.addresses import Refused
from outbound.http import Unresolved

USER_AGENT = "orgportal-webhooks/1"
EVENT_HEADER = "Orgportal-Event"
DELIVERY_HEADER = "Orgportal-Delivery"
SIGNATURE_HEADER = "Orgportal-Signature"
# How much of a failing receiver's answer the attempt log keeps, in bytes.
_BODY_EXCERPT = 200
# Starts the error of an attempt refused because of where it would have gone.
TARGET_REFUSED = "TARGET_REFUSED"


def _digest(secret: str, body: bytes, t: int) -> str:
    return hmac.new(
        secret.encode(), str(t).encode() + b"." + body, hashlib.sha256
    ).hexdigest()


def sign(secret: str, body: bytes, t: int) -> str:
    """The `Orgportal-Signature` header value for `body` sent at unix second `t`."""
    return f"t={t},v1={_digest(secret, body, t)}"


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    tolerance_s: int = 300,
    now: float | dt.datetime | None = None,
) -> bool:
    """True when `header` signs exactly `body` with `secret` within `tolerance_s` seconds
    of `now` (unix seconds or an aware datetime; default: the wall clock). The tolerance
    bounds how long a captured request can be replayed."""
    t: int | None = None
    candidates: list[bytes] = []
    for part in (header or "").split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            if not value.isdigit():
                return False
            t = int(value)
        elif key == "v1":
            candidates.append(value.encode("utf-8", "replace"))
    if t is None or not candidates:
        return False
    if isinstance(now, dt.datetime):
        now = now.timestamp()
    current = time.time() if now is None else now
    if abs(current - t) > tolerance_s:
        return False
    expected = _digest(secret, body, t).encode()
    # Compare with every candidate so the time taken says nothing about which matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate)
    return matched


@dataclass(frozen=True)
class Sent:
    ok: bool
    status_code: int | None
    error: str
    duration_ms: int


def _redacted(text: str, url: str) -> str:
    # Exception texts may quote the URL, which can carry credentials or a token.
    return text.replace(url, "<endpoint url>") if url else text


def post(*, url: str, secret: str, body: bytes, event: str, delivery_id: int) -> Sent:
    """POST one signed webhook. Any 2xx is delivered; any other status, a redirect, a
    timeout or a refused connection is a failure. Never raises for network trouble.

    A target that is or resolves to an internal address is refused before anything is
    connected (`outbound`), unless WEBHOOK_ALLOW_PRIVATE_TARGETS allows private ones;
    its error starts with TARGET_REFUSED and no answer is read, so nothing of what such
    an address would have said reaches the delivery log."""
    # The signature time is the wall clock, not orgportal's controllable clock: receivers
    # compare it with their own clock to refuse replays.
    t = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: event,
        DELIVERY_HEADER: str(delivery_id),
        SIGNATURE_HEADER: sign(secret, body, t),
    }
    timeout = settings.WEBHOOK_TIMEOUT
    started = time.monotonic()
    status_code: int | None = None
    error = ""
    try:
        answer = outbound_http.post(
            url,
            content=body,
            headers=headers,
            timeout=timeout,
            allow_private=settings.WEBHOOK_ALLOW_PRIVATE_TARGETS,
            excerpt_bytes=_BODY_EXCERPT,
        )
        status_code = answer.status_code
        if not 200 <= status_code < 300:
            excerpt = answer.excerpt.strip()
            error = f"HTTP {status_code}" + (f": {excerpt}" if excerpt else "")
    except Refused as exc:
        error = f"{TARGET_REFUSED}: {exc}"
    except Unresolved as exc:
        error = f"DNS: {exc}"
    except httpx.TimeoutException:
        error = f"timed out after {timeout:g} s"
    except httpx.HTTPError as exc:
        error = _redacted(f"{type(exc).__name__}: {exc}", url)
    except (httpx.InvalidURL, ValueError) as exc:
        error = _redacted(f"invalid URL: {exc}", url)
    duration_ms = int((time.monotonic() - started) * 1000)
    return Sent(
        ok=not error,
        status_code=status_code,
        error=error[:500],
        duration_ms=duration_ms,
    )
