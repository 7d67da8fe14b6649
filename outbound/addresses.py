"""Which outbound targets are refused: the address rules, with no network access.

A URL an operator names (a webhook endpoint) must never make this service reach itself,
its neighbours or the cloud's metadata service. A host is read the way the connection
would read it: IPv4 in every legacy spelling inet_aton, curl and browsers accept
(decimal `2130706433`, octal `0177.0.0.1`, hex `0x7f.1`, short `127.1`, a trailing
dot), IPv6 with an IPv4 address embedded in it, and international names in their ASCII
form. A name is judged here only by what it is called; what it resolves to is judged
when sending (`outbound.http`), because DNS answers change.

The rules are spelled out as networks rather than left to `ipaddress.is_global` alone:
what that property says has changed between Python releases (multicast and 192.0.0.0/24
were "global" before 3.11.10), and it never looks inside an embedded IPv4 address.
"""

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}

# Kinds of address and name, in the words a refusal uses.
UNSPECIFIED = "the unspecified address"
METADATA = "a cloud metadata address"
LOOPBACK = "a loopback address"
LINK_LOCAL = "a link-local address"
MULTICAST = "a multicast address"
PRIVATE = "a private address"
RESERVED = "a reserved address"
# What WEBHOOK_ALLOW_PRIVATE_TARGETS lets through: a receiver on this machine or on the
# local network. Link-local stays refused: the metadata services live there.
ALLOWED_WHEN_PRIVATE_ALLOWED = frozenset({LOOPBACK, PRIVATE})

_net = ipaddress.ip_network

# Instance metadata and credential endpoints of the clouds (AWS, AWS ECS/EKS, GCP,
# Azure, Alibaba, Oracle): refused whatever the settings say.
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.170.23",
        "100.100.100.200",
        "192.0.0.192",
        "fd00:ec2::254",
        "fd00:ec2::23",
    )
)
_UNSPECIFIED_NETWORKS = (
    _net("0.0.0.0/8"),
)  # "this network": Linux connects it locally
_PRIVATE_NETWORKS = (
    _net("10.0.0.0/8"),
    _net("172.16.0.0/12"),
    _net("192.168.0.0/16"),
    _net("100.64.0.0/10"),  # shared address space (carrier-grade NAT)
    _net("fc00::/7"),  # unique local
    _net("64:ff9b:1::/48"),  # local-use NAT64
)
# The rest of the IANA special-purpose registries that is not globally reachable.
_RESERVED_NETWORKS = (
    _net("192.0.0.0/24"),
    _net("192.0.2.0/24"),
    _net("198.18.0.0/15"),
    _net("198.51.100.0/24"),
    _net("203.0.113.0/24"),
    _net("240.0.0.0/4"),  # and 255.255.255.255, the broadcast address
    _net("::/8"),  # IPv4-compatible and IPv4-translated forms among others
    _net("100::/64"),
    _net("2001::/23"),
    _net("2001:db8::/32"),
    _net("3fff::/20"),
    _net("5f00::/16"),
    _net("fec0::/10"),
)
_NAT64 = _net("64:ff9b::/96")

# Names that only mean something inside a network. Metadata names are refused always;
# the others are private names, allowed with private targets.
_METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
_LOOPBACK_SUFFIX = "localhost"
_PRIVATE_SUFFIXES = frozenset(
    {"internal", "local", "localdomain", "home.arpa", "lan", "home", "corp", "intranet"}
)
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


class Refused(ValueError):
    """A target this service does not send to; the message names the reason."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # ASCII, lower case, no trailing dot; an address in its usual form
    port: int
    address: IPAddress | None  # when the host is an address rather than a name


# --- addresses ----------------------------------------------------------------------------


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and would reach: IPv4-mapped, 6to4 and
    well-known-prefix NAT64 forms."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_kind(address: IPAddress) -> str | None:
    """What an address is, in a refusal's words, or None for a public address."""
    if address.version == 6:
        if address.scope_id:
            return LINK_LOCAL  # only link-local addresses carry a zone
        inner = embedded_ipv4(address)
        if inner is not None:
            return address_kind(inner)
    if address.is_unspecified or any(address in n for n in _UNSPECIFIED_NETWORKS):
        return UNSPECIFIED
    if address in _METADATA_ADDRESSES:
        return METADATA
    if address.is_loopback:
        return LOOPBACK
    if address.is_link_local:
        return LINK_LOCAL
    if address.is_multicast:
        return MULTICAST
    if any(address in n for n in _PRIVATE_NETWORKS):
        return PRIVATE
    if (
        any(address in n for n in _RESERVED_NETWORKS)
        or address.is_reserved
        or address.is_private
        or not address.is_global
    ):
        return RESERVED
    return None


def address_problem(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why this address is refused ("a private address"), or None when it is not."""
    kind = address_kind(address)
    if kind is None or (allow_private and kind in ALLOWED_WHEN_PRIVATE_ALLOWED):
        return None
    return kind


# --- reading a host -----------------------------------------------------------------------


def _ipv4_number(part: str) -> int | None:
    # WHATWG's IPv4 number parser, which is inet_aton's: 0x.. hex, 0.. octal, decimal.
    if not part:
        return None
    if part[:2] in ("0x", "0X"):
        digits, base = part[2:], 16
    elif len(part) > 1 and part[0] == "0":
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    if not digits:
        return 0
    if not digits.isascii() or not digits.isalnum():
        return None
    try:
        return int(digits, base)
    except ValueError:
        return None


def _ends_in_a_number(labels: list[str]) -> bool:
    last = labels[-1]
    if last.isascii() and last.isdigit():
        return True
    return last[:2] in ("0x", "0X") and _ipv4_number(last) is not None


def parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a host string names in any legacy spelling, None when the host
    is not written as an IPv4 address. Raises Refused for a host that a browser would
    read as a broken address (`1.2.3.4.5`, `0189.1`)."""
    labels = host.split(".")
    if len(labels) > 1 and labels[-1] == "":
        labels.pop()
    if not labels or not labels[-1] or not _ends_in_a_number(labels):
        return None
    numbers = [_ipv4_number(label) for label in labels] if len(labels) <= 4 else []
    if not numbers or None in numbers:
        raise Refused(f"{host} is not a valid IPv4 address")
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        raise Refused(f"{host} is not a valid IPv4 address")
    value = last
    for i, n in enumerate(leading):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _ascii_host(host: str) -> str:
    host = host.strip().lower()
    if not host.isascii():
        # Python's IDNA codec applies nameprep (NFKC), so full-width digits and dots
        # become the ASCII ones a resolver would be asked about.
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise Refused(f"{host} is not a valid host name") from None
    return host


def parse_address(host: str) -> IPAddress | None:
    """The address a host string is written as (IPv4 in any spelling, or IPv6 with or
    without brackets), None for a name."""
    host = _ascii_host(host)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise Refused(f"{host} is not a valid IPv6 address") from None
    return parse_ipv4(host)


def _name_kind(name: str) -> tuple[str, bool] | None:
    """What a name is, in a refusal's words, and whether allowing private targets lets
    it through; None for a name that may be public."""
    labels = name.split(".")
    if name in _METADATA_NAMES or any(
        name.endswith("." + m) for m in _METADATA_NAMES if "." in m
    ):
        return "a cloud metadata name", False
    if labels[-1] == _LOOPBACK_SUFFIX:
        return "a loopback name", True
    if len(labels) == 1:
        return "a name without a domain, which only a local resolver answers", True
    if any(name == s or name.endswith("." + s) for s in _PRIVATE_SUFFIXES):
        return "a private name", True
    return None


def describe(spelled: str, address: IPAddress, problem: str) -> str:
    """A refusal naming the address a spelling reaches ("0x7f.1 is 127.0.0.1, ...")."""
    spelled = spelled.strip("[]")
    inner = embedded_ipv4(address) if address.version == 6 else None
    if inner is not None:
        return f"{spelled} reaches {inner}, {problem}"
    if spelled == str(address):
        return f"{address} is {problem}"
    return f"{spelled} is {address}, {problem}"


def check_host(host: str, *, allow_private: bool) -> IPAddress | None:
    """Refuse a host (name or address, any spelling) that names an internal target;
    returns the address when the host is one, None for an acceptable name."""
    spelled = host
    address = parse_address(host)
    if address is not None:
        problem = address_problem(address, allow_private=allow_private)
        if problem:
            raise Refused(describe(spelled, address, problem))
        return address
    name = normal_host(host)
    if not name or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise Refused(f"{spelled} is not a valid host name")
    found = _name_kind(name)
    if found is None or (allow_private and found[1]):
        return None
    raise Refused(f"{spelled} is {found[0]}")


def normal_host(host: str) -> str:
    """A host as compared and resolved: ASCII, lower case, no trailing dot."""
    address = parse_address(host)
    if address is not None:
        return str(address)
    host = _ascii_host(host)
    return host[:-1] if host.endswith(".") else host


def check_url(url: str, *, allow_private: bool) -> Target:
    """The target of an http(s) URL, or Refused naming why it is not sent to."""
    if any(c.isspace() or not c.isprintable() or c == "\\" for c in url):
        # Parsers disagree about these; what they disagree about is never sent.
        raise Refused("no spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"not a valid URL ({exc})") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise Refused("an absolute http:// or https:// URL")
    if "@" in parts.netloc:
        raise Refused("no user name or password in the URL")
    if not parts.hostname:
        raise Refused("a URL with a host")
    # urlsplit lower-cases the host and drops IPv6 brackets; the spelling in the message
    # is the URL's own.
    spelled = parts.netloc.rsplit(":", 1)[0] if port is not None else parts.netloc
    address = check_host(spelled, allow_private=allow_private)
    return Target(
        scheme=parts.scheme,
        host=str(address) if address is not None else normal_host(parts.hostname),
        port=port if port is not None else DEFAULT_PORTS[parts.scheme],
        address=address,
    )
