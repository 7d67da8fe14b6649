"""A member's WebSockets on its portal page: the open connections, listed from the real
gateway (uvicorn in a thread, sandbox upstream), disconnected by admins and owners and
audited; viewers see them but cannot act. And the stream usage charts and refusals."""

import asyncio
import datetime as dt

import httpx
import pytest

from members import stream_selectors
from members.models import AuditEvent, Member, UsageDay
from orgportal import clock
from tests.marketdata import conftest as gateway
from tests.marketdata.live_helpers import is_series, open_live, series
from tests.portal import factories
from tests.portal.conftest import make_user, signed_in

# The web process with its WebSocket gateway, and members with gateway keys.
web = gateway.web
member_key = gateway.member_key

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live_config(sandbox):
    answer = httpx.post(
        f"{sandbox.url}/_sandbox/live", json={"updates_per_second": 20}, timeout=5
    )
    assert answer.status_code == 200, answer.text


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def listed(uid: str, count: int, timeout: float = 5.0) -> list[dict]:
    """The member's open connections once the registry lists `count` of them (with
    Redis the gateway publishes its listing a moment after a subscription)."""
    member = await asyncio.to_thread(Member.objects.get, uid=uid)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        rows = await asyncio.to_thread(stream_selectors.member_connections, member)
        if len(rows) == count:
            return rows
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{len(rows)} connections listed, not {count}")
        await asyncio.sleep(0.05)


async def panel(client, uid: str) -> str:
    """The open connections panel of the member's page."""
    response = await asyncio.to_thread(client.get, f"/members/{uid}/")
    assert response.status_code == 200
    html = response.content.decode()
    start = html.index('id="ws-connections"')
    return html[start : html.index("</section>", start)]


def disconnect_url(uid: str) -> str:
    return f"/members/{uid}/connections/disconnect/"


def audits() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="member.ws_disconnect"))


def test_an_admin_sees_a_connection_with_its_subscription_and_disconnects_it(
    web, member_key, live_config
):
    # given a member streaming one series, and an admin
    key = member_key("ws1", "pro")
    admin = signed_in(make_user("adam", "admin"))

    async def scenario():
        ws, frames = await open_live(web.url, key, series("NASDAQ:AAPL"))
        await frames.wait_for(is_series())
        [connection] = await listed("ws1", 1)
        # then the panel shows it, its subscription and a Disconnect button
        html = await panel(admin, "ws1")
        assert "/live" in html and "127.0.0.1:" in html
        assert "NASDAQ:AAPL</span> (series, 1 minute)" in html
        assert f'name="connection" value="{connection["id"]}"' in html
        assert "Disconnect all" in html
        # when the admin disconnects it
        response = await asyncio.to_thread(
            admin.post, disconnect_url("ws1"), {"connection": connection["id"]}
        )
        assert response.status_code == 302
        assert response["Location"] == "/members/ws1/#ws-connections"
        # then the client is closed by the operator, and the action is audited
        assert await frames.close_code() == (1008, "disconnected by the operator")
        [event] = await asyncio.to_thread(audits)
        assert (event.actor, event.object_type, event.object_id) == (
            "staff:adam",
            "member",
            "ws1",
        )
        assert event.after == {"scope": "one", "closed": 1}
        assert [c["subscriptions"] for c in event.before["connections"]] == [
            ["NASDAQ:AAPL"]
        ]
        # and the page says so, then lists nothing once the gateway let it go
        await listed("ws1", 0)
        response = await asyncio.to_thread(admin.get, "/members/ws1/")
        html = response.content.decode()
        assert "Disconnected the /live connection from 127.0.0.1:" in html
        assert "No open connections" in await panel(admin, "ws1")

    run(scenario())


def test_disconnect_all_closes_every_connection_of_the_member(
    web, member_key, live_config
):
    # given a member on /live and on /newsfeed, another member streaming too
    key = member_key("ws2", "pro")
    other_key = member_key("ws3", "pro")
    owner = signed_in(make_user("olivia", "owner"))

    async def scenario():
        live, live_frames = await open_live(web.url, key, series("NASDAQ:AAPL"))
        news, news_frames = await open_live(web.url, key, path="/newsfeed")
        other, other_frames = await open_live(web.url, other_key, series("NASDAQ:MSFT"))
        await live_frames.wait_for(is_series())
        await other_frames.wait_for(is_series())
        await listed("ws2", 2)
        # when the owner disconnects all of ws2's
        response = await asyncio.to_thread(owner.post, disconnect_url("ws2"))
        assert response.status_code == 302
        # then both close, the other member's connection keeps streaming
        assert await live_frames.close_code() == (1008, "disconnected by the operator")
        assert await news_frames.close_code() == (1008, "disconnected by the operator")
        mark = len(other_frames.items)
        await other_frames.wait_for(
            lambda m: m in other_frames.items[mark:] and is_series(1)(m)
        )
        [event] = await asyncio.to_thread(audits)
        assert event.after == {"scope": "all", "closed": 2}
        assert sorted(c["path"] for c in event.before["connections"]) == [
            "/live",
            "/newsfeed",
        ]
        await other.close()

    run(scenario())


def test_a_viewer_sees_the_connections_but_cannot_disconnect(
    web, member_key, live_config
):
    key = member_key("ws4", "pro")
    viewer = signed_in(make_user("vera", "viewer"))

    async def scenario():
        ws, frames = await open_live(web.url, key, series("NASDAQ:AAPL"))
        await frames.wait_for(is_series())
        [connection] = await listed("ws4", 1)
        html = await panel(viewer, "ws4")
        assert "NASDAQ:AAPL" in html
        assert "Disconnect" not in html and 'name="connection"' not in html
        # when the viewer posts a disconnect anyway
        for body in ({"connection": connection["id"]}, {}):
            response = await asyncio.to_thread(viewer.post, disconnect_url("ws4"), body)
            assert response.status_code == 403
        # then nothing closes and nothing is audited
        mark = len(frames.items)
        await frames.wait_for(lambda m: m in frames.items[mark:] and is_series(1)(m))
        assert not frames.closed.done()
        assert await asyncio.to_thread(audits) == []
        await ws.close()

    run(scenario())


def test_the_panel_refreshes_alone_for_htmx(web, member_key, live_config):
    key = member_key("ws5", "pro")
    viewer = signed_in(make_user("vera", "viewer"))

    async def scenario():
        url = "/members/ws5/connections/"
        response = await asyncio.to_thread(viewer.get, url, HTTP_HX_REQUEST="true")
        html = response.content.decode()
        assert response.status_code == 200 and "<html" not in html
        assert 'id="ws-connections"' in html and "No open connections" in html
        ws, frames = await open_live(web.url, key, series("NASDAQ:AAPL"))
        await frames.wait_for(is_series())
        await listed("ws5", 1)
        response = await asyncio.to_thread(viewer.get, url, HTTP_HX_REQUEST="true")
        assert "NASDAQ:AAPL" in response.content.decode()
        await ws.close()

    run(scenario())


# --- without a gateway ---------------------------------------------------------------


@pytest.fixture
def member(db):
    return factories.members(1)[0]


def test_no_open_connections_is_said_and_an_unknown_one_is_refused(member):
    owner = signed_in(make_user("olivia", "owner"))
    response = owner.get(f"/members/{member.uid}/")
    assert "No open connections" in response.content.decode()
    response = owner.post(
        disconnect_url(member.uid), {"connection": "host-1:99"}, follow=True
    )
    assert "has no open WebSocket connection" in response.content.decode()
    assert audits() == []
    response = owner.post(disconnect_url("nobody"))
    assert response.status_code == 404


def test_the_page_charts_websocket_usage_and_lists_refusals_by_gateway(member):
    # given two days of traffic, with refusals of both gateways
    today = clock.now().date()
    UsageDay.objects.create(
        member=member,
        day=today - dt.timedelta(days=1),
        ws_messages=1200,
        ws_bytes=64_000,
        ws_connection_seconds=60,
        refused={"WS_CONNECTION_LIMIT": 2, "RATE_LIMITED": 1},
    )
    UsageDay.objects.create(
        member=member,
        day=today,
        requests=5,
        ws_messages=300,
        ws_connection_seconds=30,
        refused={"WS_CONNECTION_LIMIT": 1, "WS_SUBSCRIPTION_REFUSED": 4},
    )
    viewer = signed_in(make_user("vera", "viewer"))
    # when a viewer opens the member's page
    html = viewer.get(f"/members/{member.uid}/").content.decode()
    # then the WebSocket charts show each day's messages and minutes
    label = today.strftime("%m-%d")
    assert f"<title>{label}: 300 messages</title>" in html
    assert f"<title>{label}: 0.5 minutes</title>" in html
    assert "1,500 messages delivered" in html
    assert "1.5 minutes connected" in html
    # and the refusals by reason, most first, say which gateway refused
    start = html.index('data-testid="refusals"')
    rows = html[start : html.index("</table>", start)]
    order = [
        rows.index(reason)
        for reason in (
            'WS_SUBSCRIPTION_REFUSED</td><td>WebSocket</td><td class="num">4',
            'WS_CONNECTION_LIMIT</td><td>WebSocket</td><td class="num">3',
            'RATE_LIMITED</td><td>REST</td><td class="num">1',
        )
    ]
    assert order == sorted(order)


def test_a_page_without_websocket_traffic_says_so(member):
    viewer = signed_in(make_user("vera", "viewer"))
    html = viewer.get(f"/members/{member.uid}/").content.decode()
    assert "No WebSocket data delivered in the last 30 days." in html
    assert "Nothing refused in the last 30 days." in html
