"""Which webhook targets are refused when an endpoint is saved: every spelling of an
internal address, internal names and URLs with credentials; public targets pass."""

import ipaddress
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outbound.addresses import Refused, check_url, parse_ipv4

REFUSED = [
    # loopback, in every spelling inet_aton, curl and browsers read as 127.0.0.1
    ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
    ("http://127.0.0.1:6379/", "loopback"),
    ("http://2130706433/", "2130706433 is 127.0.0.1, a loopback address"),
    ("http://0177.0.0.1/", "0177.0.0.1 is 127.0.0.1, a loopback address"),
    ("http://0x7f.1/", "0x7f.1 is 127.0.0.1, a loopback address"),
    ("http://0x7F000001/", "is 127.0.0.1, a loopback address"),
    ("http://017700000001/", "is 127.0.0.1, a loopback address"),
    ("http://127.1/", "127.1 is 127.0.0.1, a loopback address"),
    ("http://127.0.1/", "is 127.0.0.1, a loopback address"),
    ("http://127.0.0.1./", "is 127.0.0.1, a loopback address"),
    ("http://127.255.255.254/", "loopback"),
    ("http://１２７.０.０.１/", "is 127.0.0.1, a loopback address"),
    ("http://[::1]/", "::1 is a loopback address"),
    ("http://[0:0:0:0:0:0:0:1]:8080/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "reaches 127.0.0.1, a loopback address"),
    ("http://[::ffff:7f00:1]/", "reaches 127.0.0.1, a loopback address"),
    ("http://localhost/", "localhost is a loopback name"),
    ("http://localhost:6379", "loopback name"),
    ("http://LOCALHOST./", "loopback name"),
    ("http://api.localhost/", "api.localhost is a loopback name"),
    # unspecified: Linux connects 0.0.0.0 to this machine
    ("http://0.0.0.0/", "0.0.0.0 is the unspecified address"),
    ("http://0/", "0 is 0.0.0.0, the unspecified address"),
    ("http://0.1.2.3/", "unspecified"),
    ("http://[::]/", ":: is the unspecified address"),
    # private networks
    ("http://10.0.0.5/", "10.0.0.5 is a private address"),
    ("http://012.0.0.5/", "012.0.0.5 is 10.0.0.5, a private address"),
    ("http://167772165/", "is 10.0.0.5, a private address"),
    ("http://0xa.5/", "is 10.0.0.5, a private address"),
    ("http://172.16.0.1/", "private"),
    ("http://172.31.255.255/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://100.64.0.1/", "private"),
    ("http://[fd12:3456::1]/", "fd12:3456::1 is a private address"),
    ("http://[::ffff:10.0.0.5]/", "reaches 10.0.0.5, a private address"),
    # IPv4 inside 6to4 and NAT64 addresses
    ("http://[2002:7f00:1::]/", "reaches 127.0.0.1, a loopback address"),
    ("http://[2002:a00:5::1]/", "reaches 10.0.0.5, a private address"),
    ("http://[64:ff9b::a00:5]/", "reaches 10.0.0.5, a private address"),
    ("http://[64:ff9b::127.0.0.1]/", "reaches 127.0.0.1, a loopback address"),
    # link-local and the cloud metadata services
    ("http://169.254.169.254/latest/meta-data/", "a cloud metadata address"),
    ("http://0xa9fea9fe/", "is 169.254.169.254, a cloud metadata address"),
    ("http://2852039166/", "is 169.254.169.254, a cloud metadata address"),
    ("http://[::ffff:169.254.169.254]/", "cloud metadata address"),
    ("http://[fd00:ec2::254]/", "fd00:ec2::254 is a cloud metadata address"),
    ("http://100.100.100.200/", "cloud metadata address"),
    ("http://169.254.1.1/", "169.254.1.1 is a link-local address"),
    ("http://[fe80::1]/", "fe80::1 is a link-local address"),
    ("http://[fe80::1%25eth0]/", "link-local"),
    ("http://metadata.google.internal/computeMetadata/v1/", "cloud metadata name"),
    ("http://METADATA.google.internal./", "cloud metadata name"),
    ("http://metadata/", "metadata is a cloud metadata name"),
    ("http://metadata.goog/", "cloud metadata name"),
    ("http://instance-data/", "instance-data is a cloud metadata name"),
    ("http://instance-data.ec2.internal/", "cloud metadata name"),
    # multicast and reserved
    ("http://224.0.0.1/", "224.0.0.1 is a multicast address"),
    ("http://[ff02::1]/", "multicast"),
    ("http://255.255.255.255/", "reserved"),
    ("http://240.0.0.1/", "reserved"),
    ("http://192.0.2.10/", "reserved"),
    ("http://198.18.0.1/", "reserved"),
    ("http://192.0.0.8/", "reserved"),
    ("http://[2001:db8::1]/", "reserved"),
    ("http://[::127.0.0.1]/", "reserved"),
    # names only a local resolver answers
    ("http://redis:6379/", "only a local resolver answers"),
    ("http://db.internal/", "db.internal is a private name"),
    ("http://printer.local/", "private name"),
    ("http://router.home.arpa/", "private name"),
    # broken addresses a browser refuses, rather than guessing what they reach
    ("http://1.2.3.4.5/", "not a valid IPv4 address"),
    ("http://127..1/", "not a valid IPv4 address"),
    ("http://0189.0.0.1/", "not a valid IPv4 address"),
    ("http://256.256.256.256/", "not a valid IPv4 address"),
    ("http://example.123/", "not a valid IPv4 address"),
    # credentials, and what parsers read differently
    ("http://user:pass@example.com/", "no user name or password in the URL"),
    ("http://user@example.com/", "no user name or password"),
    ("http://example.com@127.0.0.1/", "no user name or password"),
    ("http://example.com\\@127.0.0.1/", "backslashes"),
    ("http://%31%32%37.0.0.1/", "not a valid IPv4 address"),
    ("http://hooks%2eexample.com/", "not a valid host name"),
    ("ftp://example.com/", "http:// or https://"),
]

ACCEPTED = [
    "https://example.com/hook",
    "http://93.184.216.34/",
    "http://93.184.216.34:8080/in",
    "https://hooks.example.com./orgportal",
    "https://Hooks.Example.COM/orgportal?x=1",
    "http://[2606:4700:4700::1111]/hook",
    "http://[::ffff:93.184.216.34]/",
    "http://[2002:5db8:d822::1]/",
    "http://[64:ff9b::5db8:d822]/",
    "https://bücher.example/hook",
    "http://1.1.1.1/",
    "http://8.8.8.8/",
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_internal_targets_are_refused_in_every_spelling(url, reason):
    with pytest.raises(Refused) as refused:
        check_url(url, allow_private=False)
    assert reason in str(refused.value)


@pytest.mark.parametrize("url", ACCEPTED)
def test_public_targets_are_accepted(url):
    target = check_url(url, allow_private=False)
    assert target.scheme in ("http", "https")


def test_a_target_names_the_host_and_port_it_connects_to():
    target = check_url("https://Hooks.Example.com./in", allow_private=False)
    assert (target.host, target.port, target.address) == (
        "hooks.example.com",
        443,
        None,
    )
    target = check_url("http://93.184.216.34:8080/", allow_private=False)
    assert target.address == ipaddress.ip_address("93.184.216.34")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/hook",
        "http://2130706433:9000/hook",
        "http://localhost:9000/hook",
        "http://[::1]:9000/hook",
        "http://10.0.0.5/hook",
        "http://192.168.1.20/hook",
        "http://[fd12::1]/hook",
        "http://receiver:9000/hook",
        "http://receiver.internal/hook",
    ],
)
def test_allowing_private_targets_lets_loopback_and_private_ones_through(url):
    with pytest.raises(Refused):
        check_url(url, allow_private=False)
    check_url(url, allow_private=True)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://user:pass@127.0.0.1/", "no user name or password"),
        ("http://0.0.0.0:8000/", "unspecified"),
        ("http://0/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://169.254.169.254/", "cloud metadata address"),
        ("http://[::ffff:169.254.169.254]/", "cloud metadata address"),
        ("http://[fd00:ec2::254]/", "cloud metadata address"),
        ("http://metadata.google.internal/", "cloud metadata name"),
        ("http://metadata/", "cloud metadata name"),
        ("http://169.254.10.10/", "link-local"),
        ("http://224.0.0.1/", "multicast"),
    ],
)
def test_some_targets_stay_refused_even_with_private_targets_allowed(url, reason):
    with pytest.raises(Refused) as refused:
        check_url(url, allow_private=True)
    assert reason in str(refused.value)


# --- any spelling of an address ---------------------------------------------------------


def _spell(value: int, parts: int, styles: list[str]) -> str:
    """`value` written as `parts` dotted numbers (the last one takes the remaining
    bytes), each in decimal, octal or hex."""
    sizes = [1] * (parts - 1) + [4 - (parts - 1)]
    numbers, shift = [], 32
    for size in sizes:
        shift -= 8 * size
        numbers.append((value >> shift) & ((1 << (8 * size)) - 1))
    spelled = []
    for n, style in zip(numbers, styles, strict=False):
        spelled.append(
            {"dec": str(n), "oct": "0" + format(n, "o"), "hex": hex(n)}[style]
        )
    return ".".join(spelled)


spellings = st.tuples(
    st.integers(min_value=1, max_value=4),
    st.lists(st.sampled_from(["dec", "oct", "hex"]), min_size=4, max_size=4),
)


@given(
    value=st.integers(min_value=0x0A000000, max_value=0x0AFFFFFF), spelling=spellings
)
def test_any_spelling_of_an_address_in_10_slash_8_is_refused(value, spelling):
    parts, styles = spelling
    host = _spell(value, parts, styles)
    with pytest.raises(Refused) as refused:
        check_url(f"http://{host}/hook", allow_private=False)
    assert f"{ipaddress.IPv4Address(value)}" in str(refused.value)
    assert "a private address" in str(refused.value)


@given(value=st.integers(min_value=0, max_value=2**32 - 1), spelling=spellings)
def test_addresses_are_read_as_inet_aton_reads_them(value, spelling):
    # inet_aton is what the C resolver uses to read a numeric host, so the check and
    # the connection agree on which address a spelling names.
    parts, styles = spelling
    host = _spell(value, parts, styles)
    assert parse_ipv4(host) == ipaddress.IPv4Address(socket.inet_aton(host))


@given(url=st.text(max_size=60).map(lambda s: "http://" + s))
def test_any_text_is_either_a_target_or_refused_with_a_reason(url):
    # The API answers 400 with the reason, never a 500.
    try:
        target = check_url(url, allow_private=False)
    except Refused as refused:
        assert str(refused)
    else:
        assert target.host
