"""Sending to a URL an operator named: resolve its host once, refuse the send when any
address it resolves to is internal, and connect to an address that was checked.

The request goes to the vetted address itself (the URL is rewritten to it) while the
Host header and the TLS server name, which the certificate is checked against, stay the
URL's own: a DNS answer that changes between the check and the connection (a rebinding)
cannot move the request elsewhere. Redirects are never followed, and proxies named in
the environment are not used, because a proxy would resolve the name again itself.
"""

import ipaddress
import socket
from dataclasses import dataclass

import httpx

from outbound.addresses import (
    DEFAULT_PORTS,
    IPAddress,
    Refused,
    Target,
    address_problem,
    check_url,
    embedded_ipv4,
    normal_host,
)


class Unresolved(Exception):
    """The host has no address (DNS failed or answered nothing)."""


@dataclass(frozen=True)
class Answer:
    status_code: int
    # The start of the body of an answer that is not a 2xx, for the sender's log.
    excerpt: str
    address: str


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, in the resolver's order of preference.

    The one place outbound names are resolved: tests replace it with a stub."""
    found: list[str] = []
    for family, _, _, _, sockaddr in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM
    ):
        if family in (socket.AF_INET, socket.AF_INET6) and sockaddr[0] not in found:
            found.append(sockaddr[0])
    return found


def vetted_addresses(target: Target, *, allow_private: bool) -> list[IPAddress]:
    """The addresses a send to `target` may connect to: all of them, or Refused when
    any one is internal (a name with one internal address is an internal name)."""
    if target.address is not None:
        return [target.address]
    try:
        found = resolve(target.host, target.port)
    except OSError as exc:
        raise Unresolved(
            f"{target.host} does not resolve: {exc.strerror or exc}"
        ) from None
    if not found:
        raise Unresolved(f"{target.host} does not resolve to any address")
    addresses = []
    for text in found:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise Refused(
                f"{target.host} resolves to {text!r}, not an address"
            ) from None
        problem = address_problem(address, allow_private=allow_private)
        if problem:
            inner = embedded_ipv4(address) if address.version == 6 else None
            shown = f"{address} ({inner})" if inner else str(address)
            raise Refused(f"{target.host} resolves to {shown}, {problem}")
        addresses.append(address)
    return addresses


def _start_of(response: httpx.Response, limit: int) -> str:
    # Read no more than `limit` bytes: a receiver's answer can be any size.
    kept = b""
    for chunk in response.iter_bytes():
        kept += chunk
        if len(kept) >= limit:
            break
    return kept[:limit].decode("utf-8", "replace")


def post(
    url: str,
    *,
    content: bytes,
    headers: dict[str, str],
    timeout: float,
    allow_private: bool,
    excerpt_bytes: int = 200,
) -> Answer:
    """POST `content` to `url` through a vetted, pinned address. Raises Refused (nothing
    was connected), Unresolved, or httpx's errors for what happened on the wire."""
    target = check_url(url, allow_private=allow_private)
    parsed = httpx.URL(url)
    if (
        parsed.scheme != target.scheme
        or normal_host(parsed.raw_host.decode("ascii")) != target.host
        or (parsed.port or DEFAULT_PORTS[parsed.scheme]) != target.port
    ):
        # The check and the client must read the same host from the URL.
        raise Refused("the URL's host is read differently by different parsers")
    addresses = vetted_addresses(target, allow_private=allow_private)
    headers = {**headers, "Host": parsed.netloc.decode("ascii")}
    extensions = {}
    if target.scheme == "https" and target.address is None:
        extensions["sni_hostname"] = target.host
    with httpx.Client(
        timeout=timeout, follow_redirects=False, trust_env=False
    ) as client:

        def send_to(address: IPAddress) -> Answer:
            pinned = parsed.copy_with(host=str(address))
            with client.stream(
                "POST", pinned, content=content, headers=headers, extensions=extensions
            ) as response:
                excerpt = ""
                if not 200 <= response.status_code < 300:
                    excerpt = _start_of(response, excerpt_bytes)
                return Answer(response.status_code, excerpt, str(address))

        for address in addresses[:-1]:
            try:
                return send_to(address)
            except httpx.ConnectError:
                # An address that refuses the connection (an unreachable IPv6 route, a
                # host down) gives way to the name's next vetted address.
                continue
        return send_to(addresses[-1])
