"""The Organization API client against answers only a real upstream gives (dropped
connections, bare 5xx, non-JSON bodies), through httpx.MockTransport."""

import json

import httpx
import pytest

from members.upstream import (
    UpstreamError,
    UpstreamInvalid,
    UpstreamOutcomeUnknown,
    UpstreamUnavailable,
)
from tests.members.upstream.helpers import (
    MAX_RETRIES,
    ORG_KEY,
    mock_client,
)

# --- answers only a real upstream gives ---------------------------------------------


def test_a_dropped_connection_on_a_mutation_is_an_unknown_outcome(sleeps):
    # given
    requests = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        raise httpx.RemoteProtocolError("Server disconnected", request=request)

    client = mock_client(handler, sleeps)

    # when
    with pytest.raises(UpstreamOutcomeUnknown):
        client.member_cancel(uid="alice")

    # then
    assert len(requests) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    ("status", "headers", "body"),
    [
        (500, {}, {"success": False, "error": "boom", "code": "INTERNAL"}),
        (502, {}, {"success": False, "error": "bad gateway", "code": "BAD_GATEWAY"}),
        (503, {}, {"success": False, "error": "busy", "code": "OVERLOADED"}),
    ],
    ids=["500", "502", "503-unexplained"],
)
def test_other_5xx_on_a_mutation_is_an_unknown_outcome(sleeps, status, headers, body):
    # given
    requests = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(status, json=body, headers=headers)

    client = mock_client(handler, sleeps)

    # when
    with pytest.raises(UpstreamOutcomeUnknown) as caught:
        client.member_update(uid="alice", plan="ultra")

    # then
    assert (caught.value.status, caught.value.code) == (status, body["code"])
    assert len(requests) == 1


def test_5xx_on_a_read_is_retried(sleeps):
    # given
    statuses = iter([500, 502, 504])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(statuses, 200)
        return httpx.Response(status, json={"success": status == 200, "member": {}})

    client = mock_client(handler, sleeps)

    # when
    client.member_get(uid="alice")

    # then
    assert len(sleeps) == 3


def test_429_on_a_mutation_is_retried_after_what_it_asks(sleeps):
    # given
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "0.3"}, json={"error": "slow"}),
            httpx.Response(200, json={"success": True, "member": {"uid": "alice"}}),
        ]
    )
    client = mock_client(lambda request: next(answers), sleeps)

    # when
    member = client.member_create(uid="alice", plan="pro")

    # then
    assert member == {"uid": "alice"}
    assert sleeps == [0.3]


def test_a_non_json_error_still_yields_a_typed_error(sleeps):
    # given
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            text="Bad request: plan missing",
            headers={"Content-Type": "text/plain"},
        )

    client = mock_client(handler, sleeps)

    # when
    with pytest.raises(UpstreamInvalid) as caught:
        client.member_create(uid="alice", plan="pro")

    # then
    assert caught.value.status == 400
    assert caught.value.code is None
    assert "non-JSON" in caught.value.message
    assert "Bad request: plan missing" in caught.value.message


def test_a_non_json_gateway_page_on_a_read_ends_unavailable(sleeps):
    # given: a proxy's HTML page that even echoes the request headers
    def handler(request: httpx.Request) -> httpx.Response:
        page = f"<html>502 Bad Gateway {request.headers['Authorization']}</html>"
        return httpx.Response(502, text=page, headers={"Content-Type": "text/html"})

    client = mock_client(handler, sleeps)

    # when
    with pytest.raises(UpstreamUnavailable) as caught:
        client.members_list()

    # then
    assert caught.value.status == 502
    assert "502 Bad Gateway" in caught.value.message
    assert ORG_KEY not in caught.value.message
    assert len(sleeps) == MAX_RETRIES


def test_json_is_parsed_only_when_declared(sleeps):
    # given
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.dumps({"success": True, "member": {"uid": "alice"}})
        return httpx.Response(200, text=body, headers={"Content-Type": "text/plain"})

    client = mock_client(handler, sleeps)

    # when
    with pytest.raises(UpstreamOutcomeUnknown):
        client.member_create(uid="alice", plan="pro")
    with pytest.raises(UpstreamError) as read_error:
        client.member_get(uid="alice")

    # then
    assert not isinstance(read_error.value, UpstreamOutcomeUnknown)
    assert sleeps == []
