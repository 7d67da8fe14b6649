"""Sending a webhook checks where its name resolves, at send time, and connects only to
the address it checked: names that resolve inside are refused before anything is
connected, and a DNS answer that changes cannot redirect the request.

Every test here runs with a stub resolver and a guard that fails on any other lookup and
on any connection that is not to loopback."""

import socket

import httpx
import pytest

from notifications import signing as webhooks
from outbound import http as outbound_http
from tests.notifications.webhook_receiver import Receiver
from tests.outbound.stubs import StubResolver, guard_network

SECRET = "whsec_test-secret"
BODY = b'{"id":"evt_1","type":"member.renewed","data":{}}'


@pytest.fixture
def connects(monkeypatch):
    return guard_network(monkeypatch)


@pytest.fixture
def dns(monkeypatch):
    def install(answers):
        stub = StubResolver(answers)
        monkeypatch.setattr(outbound_http, "resolve", stub)
        return stub

    return install


@pytest.fixture
def receiver():
    running = Receiver().start()
    running.secret = SECRET
    yield running
    running.stop()


def send(url: str) -> webhooks.Sent:
    return webhooks.post(
        url=url, secret=SECRET, body=BODY, event="member.renewed", delivery_id=7
    )


@pytest.mark.parametrize(
    ("addresses", "reason"),
    [
        (["10.0.0.5"], "resolves to 10.0.0.5, a private address"),
        (["169.254.169.254"], "resolves to 169.254.169.254, a cloud metadata address"),
        (["::1"], "resolves to ::1, a loopback address"),
        (["127.0.0.1"], "resolves to 127.0.0.1, a loopback address"),
        (["0.0.0.0"], "resolves to 0.0.0.0, the unspecified address"),
        (["::ffff:10.0.0.5"], "resolves to ::ffff:a00:5 (10.0.0.5), a private address"),
        (["fd00:ec2::254"], "resolves to fd00:ec2::254, a cloud metadata address"),
        # one internal address among public ones is enough to refuse the name
        (["93.184.216.34", "10.0.0.5"], "resolves to 10.0.0.5, a private address"),
    ],
)
def test_a_name_resolving_inside_is_refused_and_nothing_is_connected(
    settings, dns, connects, addresses, reason
):
    # given: a name that passed validation, and private targets not allowed
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    stub = dns({"hooks.example.com": addresses})
    # when
    sent = send("https://hooks.example.com/in")
    # then
    assert not sent.ok and sent.status_code is None
    assert sent.error == f"TARGET_REFUSED: hooks.example.com {reason}"
    assert stub.calls == [("hooks.example.com", 443)]
    assert connects == []


@pytest.mark.parametrize(
    "addresses", [["169.254.169.254"], ["0.0.0.0"], ["::"], ["fd00:ec2::254"]]
)
def test_metadata_and_unspecified_addresses_stay_refused_with_private_allowed(
    settings, dns, connects, addresses
):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    dns({"hooks.example.com": addresses})
    sent = send("http://hooks.example.com/in")
    assert sent.error.startswith("TARGET_REFUSED: hooks.example.com resolves to ")
    assert connects == []


def test_an_address_literal_saved_before_the_rules_is_refused_at_send_time(
    settings, dns, connects, receiver
):
    # given: a loopback URL that validation would refuse today, and a receiver there
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    stub = dns({})
    # when
    sent = send(f"http://0x7f.1:{receiver.port}/hooks")
    # then: refused without a lookup or a connection; the receiver heard nothing
    assert sent.error == "TARGET_REFUSED: 0x7f.1 is 127.0.0.1, a loopback address"
    assert stub.calls == [] and connects == [] and receiver.count() == 0


def test_the_connection_goes_to_the_vetted_address_and_keeps_the_host_header(
    settings, dns, connects, receiver
):
    # given: a public-looking name that resolves to the loopback receiver
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    stub = dns({"hooks.example.com": ["127.0.0.1"]})
    # when
    sent = send(f"http://hooks.example.com:{receiver.port}/hooks/orgportal")
    # then: one lookup, through the stub; the receiver saw the name, not the address
    assert sent.ok and sent.status_code == 204, sent.error
    assert stub.calls == [("hooks.example.com", receiver.port)]
    assert connects == [("127.0.0.1", receiver.port)]
    [got] = receiver.received
    assert got.headers["Host"] == f"hooks.example.com:{receiver.port}"
    assert got.verified and got.body == BODY


def test_a_dns_answer_that_changes_after_the_check_cannot_move_the_request(
    settings, dns, connects, receiver
):
    # given: a name that answers loopback once, then the metadata address
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    stub = dns({"rebind.example.com": [["127.0.0.1"], ["169.254.169.254"]]})
    # when
    sent = send(f"http://rebind.example.com:{receiver.port}/hooks")
    # then: the name was resolved once and the checked address was the one connected
    assert sent.ok, sent.error
    assert stub.calls == [("rebind.example.com", receiver.port)]
    assert connects == [("127.0.0.1", receiver.port)]
    # and the next send sees the new answer, and is refused
    again = send(f"http://rebind.example.com:{receiver.port}/hooks")
    assert again.error == (
        "TARGET_REFUSED: rebind.example.com resolves to 169.254.169.254, "
        "a cloud metadata address"
    )
    assert receiver.count() == 1 and len(connects) == 1


def test_a_redirect_is_not_followed(settings, dns, connects, receiver):
    # given: a receiver that redirects to another one
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    elsewhere = Receiver().start()
    try:
        receiver.status, receiver.location = 307, elsewhere.url
        dns({"hooks.example.com": ["127.0.0.1"]})
        # when
        sent = send(f"http://hooks.example.com:{receiver.port}/hooks")
        # then: a failed attempt, and the redirect's target heard nothing
        assert not sent.ok and sent.status_code == 307
        assert sent.error == "HTTP 307: receiver says no"
        assert receiver.count() == 1 and elsewhere.count() == 0
        assert connects == [("127.0.0.1", receiver.port)]
    finally:
        elsewhere.stop()


def test_https_is_pinned_with_the_names_tls_server_name(settings, dns, monkeypatch):
    # given: no TLS server here, so the transport records what it was asked to do
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    dns({"hooks.example.com": ["127.0.0.1"]})
    asked = []

    def handle_request(transport, request):
        asked.append(request)
        return httpx.Response(204)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", handle_request)
    # when
    sent = send("https://hooks.example.com/in?x=1")
    # then: connected to the address, Host and SNI (the certificate's name) kept
    assert sent.ok
    [request] = asked
    assert str(request.url) == "https://127.0.0.1/in?x=1"
    assert request.headers["Host"] == "hooks.example.com"
    assert request.extensions["sni_hostname"] == "hooks.example.com"


def test_a_name_that_does_not_resolve_is_a_failed_attempt(settings, dns, connects):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    dns({})
    sent = send("https://nowhere.example.com/in")
    assert not sent.ok and sent.error.startswith("DNS: nowhere.example.com")
    assert connects == []


def test_the_resolver_asks_the_system_for_every_address(monkeypatch):
    def getaddrinfo(host, port, type=0, **kwargs):
        assert (host, port, type) == ("hooks.example.com", 443, socket.SOCK_STREAM)
        return [
            (socket.AF_INET6, type, 6, "", ("2606:4700::1", port, 0, 0)),
            (socket.AF_INET, type, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, type, 6, "", ("93.184.216.34", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    assert outbound_http.resolve("hooks.example.com", 443) == [
        "2606:4700::1",
        "93.184.216.34",
    ]
