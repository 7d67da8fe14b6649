"""GET /api/organization/members/{uid}/connections and POST .../connections/disconnect
against the real gateway (uvicorn in a thread, sandbox upstream): the listing, the
scopes, the close the client sees, the audit row, errors and Idempotency-Key."""

import asyncio

import pytest

from members.models import AuditEvent
from tests.marketdata import conftest as gateway
from tests.marketdata.live_helpers import is_series, open_live, series
from tests.rest import post

# The web process with its WebSocket gateway, and members with gateway keys.
web = gateway.web
member_key = gateway.member_key

pytestmark = pytest.mark.django_db(transaction=True)
BASE = "/api/organization/members"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def listed(client, uid: str, count: int, timeout: float = 5.0) -> list[dict]:
    """The API's listing once it shows `count` connections (with Redis the gateway
    publishes its listing a moment after a subscription)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await asyncio.to_thread(client.get, f"{BASE}/{uid}/connections")
        assert response.status_code == 200, response.content
        connections = response.json()["connections"]
        if len(connections) == count:
            return connections
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{len(connections)} listed, not {count}")
        await asyncio.sleep(0.05)


def audits() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="member.ws_disconnect"))


def test_a_read_token_lists_and_a_members_token_disconnects(
    web, member_key, scoped_api
):
    # given a member streaming one series
    key = member_key("api1", "pro")
    reader, changer = scoped_api("read"), scoped_api("members")

    async def scenario():
        ws, frames = await open_live(
            web.url, key, series("NASDAQ:AAPL", bar_type="second", bar_interval=5)
        )
        await frames.wait_for(is_series())
        # then a read token sees the connection and its subscription
        [connection] = await listed(reader, "api1", 1)
        assert connection["path"] == "/live"
        assert connection["peer"].startswith("127.0.0.1:")
        assert connection["opened_at"].endswith("Z")
        assert connection["subscriptions"] == [
            {
                "code": "NASDAQ:AAPL",
                "type": "series",
                "bar_type": "second",
                "bar_interval": 5,
            }
        ]
        # counters as of the listing (refreshed every few seconds with Redis)
        assert connection["messages"] >= 0 and connection["bytes"] >= 0
        # but may not disconnect it
        refused = await asyncio.to_thread(
            post, reader, "/members/api1/connections/disconnect", {}
        )
        assert refused.status_code == 403
        assert refused.json()["code"] == "INSUFFICIENT_SCOPE"
        assert refused.json()["success"] is False
        # when a members token disconnects it
        response = await asyncio.to_thread(
            post,
            changer,
            "/members/api1/connections/disconnect",
            {"connection": connection["id"]},
            **{"Idempotency-Key": "disconnect-1"},
        )
        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["success"], body["uid"], body["disconnected"]) == (
            True,
            "api1",
            1,
        )
        assert [c["id"] for c in body["connections"]] == [connection["id"]]
        # then the client is closed by the operator, once, and it is audited
        assert await frames.close_code() == (1008, "disconnected by the operator")
        [event] = await asyncio.to_thread(audits)
        assert event.actor.startswith("token:") and event.object_id == "api1"
        # and a retry with the same key replays the answer without acting again
        replay = await asyncio.to_thread(
            post,
            changer,
            "/members/api1/connections/disconnect",
            {"connection": connection["id"]},
            **{"Idempotency-Key": "disconnect-1"},
        )
        assert replay.json() == body
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert len(await asyncio.to_thread(audits)) == 1
        await listed(reader, "api1", 0)

    run(scenario())


def test_disconnect_without_a_connection_closes_them_all(web, member_key, api):
    key = member_key("api2", "pro")

    async def scenario():
        live, live_frames = await open_live(web.url, key, series("NASDAQ:AAPL"))
        news, news_frames = await open_live(web.url, key, path="/newsfeed")
        await live_frames.wait_for(is_series())
        await listed(api, "api2", 2)
        response = await asyncio.to_thread(
            post, api, "/members/api2/connections/disconnect"
        )
        assert response.status_code == 200, response.content
        assert response.json()["disconnected"] == 2
        for frames in (live_frames, news_frames):
            assert await frames.close_code() == (1008, "disconnected by the operator")

    run(scenario())


def test_errors_keep_the_organization_api_shape(member_key, api):
    member_key("api3", "pro")
    # a connection that is not open
    response = post(
        api, "/members/api3/connections/disconnect", {"connection": "host-1:7"}
    )
    assert response.status_code == 404
    body = response.json()
    assert (body["success"], body["code"]) == (False, "CONNECTION_NOT_FOUND")
    assert body["details"] == {"uid": "api3", "connection": "host-1:7"}
    assert body["error"]
    # an unknown member, a field the API does not take, a connection that is no string
    response = api.get(f"{BASE}/nobody/connections")
    assert (response.status_code, response.json()["code"]) == (404, "MEMBER_NOT_FOUND")
    response = post(api, "/members/api3/connections/disconnect", {"all": True})
    assert (response.status_code, response.json()["code"]) == (400, "UNKNOWN_FIELD")
    response = post(api, "/members/api3/connections/disconnect", {"connection": 7})
    assert response.status_code == 400
    assert audits() == []
    # with nothing open, a listing is empty
    response = api.get(f"{BASE}/api3/connections")
    assert response.json() == {"success": True, "uid": "api3", "connections": []}


def test_the_schema_documents_both_operations_with_their_scopes(client, db):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    listing = schema["paths"]["/api/organization/members/{uid}/connections"]["get"]
    disconnect = schema["paths"][
        "/api/organization/members/{uid}/connections/disconnect"
    ]["post"]
    assert listing["security"] == [{"serviceToken": ["read"]}]
    assert disconnect["security"] == [{"serviceToken": ["members"]}]
    assert "Idempotency-Key" in [p["name"] for p in disconnect["parameters"]]
    components = schema["components"]["schemas"]
    connection = components["ConnectionOut"]["properties"]
    assert {"id", "path", "peer", "opened_at", "subscriptions", "messages"} <= set(
        connection
    )
    assert "connection" in components["DisconnectInRequest"]["properties"]
