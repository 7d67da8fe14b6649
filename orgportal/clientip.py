"""The client's address behind reverse proxies, believing only TRUSTED_PROXIES.

X-Forwarded-For is whatever the sender wrote, so it counts only when the connecting
peer (REMOTE_ADDR) is a trusted proxy. Each trusted proxy appends the address it saw,
so the chain is read from the right: the first hop that is not a trusted proxy is the
client. Parsing the header (ports, brackets, IPv4-mapped IPv6, junk) is python-ipware's,
the parser django-ipware uses. ipware's own trusted-proxy option cannot be used as it
stands: it matches proxies by position inside the header and never looks at the peer,
so a client talking to the web process directly could name any address it liked.
"""

import ipaddress
from functools import lru_cache

from django.conf import settings
from python_ipware.modern.parsers import parse_ip, split_proxy_chain

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _trusted(address: _Address, networks: tuple) -> bool:
    return any(address in network for network in networks)


def in_networks(address: str | None, entries) -> bool:
    """Whether an address lies in one of the networks (CIDR strings) listed."""
    parsed = parse_ip(address) if address else None
    return parsed is not None and _trusted(parsed, _networks(tuple(entries)))


def client_ip(request) -> str | None:
    """The client's address (also django-axes' AXES_CLIENT_IP_CALLABLE)."""
    peer = parse_ip(request.META.get("REMOTE_ADDR") or "")
    if peer is None:
        return None
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    if not networks or not _trusted(peer, networks):
        return str(peer)
    chain = split_proxy_chain(request.META.get("HTTP_X_FORWARDED_FOR", "")) or []
    for hop in reversed(chain):
        if not _trusted(hop, networks):
            return str(hop)
    # Only proxies named (or no header): the farthest one is as near as we can tell.
    return str(chain[0]) if chain else str(peer)
