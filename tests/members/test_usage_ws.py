"""WebSocket usage in GET /api/organization/members/{uid}/usage: messages, bytes and
connection minutes per day beside the REST figures, WS_ refusals beside the REST ones,
metered by the real gateway."""

import asyncio
import datetime as dt
import time

import pytest

from members.models import UsageDay
from members.selectors import connection_minutes
from orgportal import clock
from tests.marketdata import conftest as gateway
from tests.marketdata.live_helpers import has_message, is_series, open_live, series
from tests.marketdata.live_helpers import subscription as subscribe
from tests.portal import factories
from tests.portal.conftest import make_user, signed_in

# The web process with its WebSocket gateway, and members with gateway keys.
web = gateway.web
member_key = gateway.member_key

BASE = "/api/organization/members"


@pytest.mark.parametrize(
    ("seconds", "minutes"),
    [(0, 0.0), (2, 0.0), (3, 0.1), (59, 1.0), (90, 1.5), (3600, 60.0), (86399, 1440.0)],
)
def test_connection_seconds_become_minutes_to_a_tenth_rounded_half_up(seconds, minutes):
    assert connection_minutes(seconds) == minutes


@pytest.mark.django_db
def test_each_day_carries_websocket_traffic_and_both_gateways_refusals(api):
    # given a member with two days of REST and WebSocket traffic
    member = factories.members(1)[0]
    today = clock.now().date()
    UsageDay.objects.create(
        member=member,
        day=today - dt.timedelta(days=1),
        requests=4,
        bytes_out=1000,
        upstream_ms_total=80,
        ws_messages=120,
        ws_bytes=4567,
        ws_connection_seconds=90,
        account_events=40,
        account_connection_seconds=150,
        refused={"RATE_LIMITED": 1, "WS_CONNECTION_LIMIT": 2},
    )
    UsageDay.objects.create(
        member=member,
        day=today,
        ws_messages=5,
        ws_bytes=50,
        ws_connection_seconds=3,
        account_events=2,
        account_connection_seconds=9,
    )
    # when the parent SaaS reads the member's usage
    body = api.get(f"{BASE}/{member.uid}/usage").json()
    # then every day has the WebSocket fields, the REST fields as before
    first, second = body["days"]
    assert first == {
        "day": (today - dt.timedelta(days=1)).isoformat(),
        "requests": 4,
        "bytes": 1000,
        "refused": {"RATE_LIMITED": 1, "WS_CONNECTION_LIMIT": 2},
        "upstream_ms_avg": 20.0,
        "ws_messages": 120,
        "ws_bytes": 4567,
        "ws_connection_minutes": 1.5,
        "account_events": 40,
        "account_connection_minutes": 2.5,
    }
    assert (second["ws_connection_minutes"], second["upstream_ms_avg"]) == (0.1, None)
    # and the totals add the days up as shown
    assert body["totals"] == {
        "requests": 4,
        "bytes": 1000,
        "ws_messages": 125,
        "ws_bytes": 4617,
        "ws_connection_minutes": 1.6,
        "account_events": 42,
        "account_connection_minutes": 2.7,
    }


@pytest.mark.django_db
def test_the_schema_documents_the_websocket_usage_fields(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    components = schema["components"]["schemas"]
    day = components["UsageDayOut"]["properties"]
    assert day["ws_messages"]["type"] == "integer"
    assert day["ws_bytes"]["type"] == "integer"
    assert day["ws_connection_minutes"]["type"] == "number"
    assert "one decimal place" in day["ws_connection_minutes"]["description"]
    assert "WS_" in day["refused"]["description"]
    assert day["refused"]["additionalProperties"] == {"type": "integer"}
    assert {"ws_messages", "ws_bytes", "ws_connection_minutes"} <= set(
        components["UsageTotalsOut"]["properties"]
    )
    assert day["account_events"]["type"] == "integer"
    assert "one decimal place" in day["account_connection_minutes"]["description"]
    assert {"account_events", "account_connection_minutes"} <= set(
        components["UsageTotalsOut"]["properties"]
    )


@pytest.mark.django_db(transaction=True)
def test_a_live_connection_is_metered_into_usage_and_the_portal(web, member_key, api):
    # given a member that streams a series, then asks for tick data a pro plan lacks
    key = member_key("meter", "pro")

    async def scenario():
        ws, frames = await open_live(web.url, key, series("NASDAQ:AAPL"))
        await frames.wait_for(is_series())
        await ws.send(subscribe(key, series("NASDAQ:AAPL", bar_type="tick")))
        await frames.wait_for(has_message("Tick data is not included"))
        await ws.close()  # closing meters the connection's traffic

    asyncio.run(asyncio.wait_for(scenario(), 60))
    # when the meter has flushed (every 0.2 s here)
    deadline = time.monotonic() + 5
    while True:
        days = api.get(f"{BASE}/meter/usage").json()["days"]
        if days and days[-1]["ws_messages"] and days[-1]["refused"]:
            break
        assert time.monotonic() < deadline, days
        time.sleep(0.1)
    # then the API reports the delivered messages and bytes, and the refusal
    day = days[-1]
    assert day["ws_messages"] >= 1 and day["ws_bytes"] > 100  # 100 bars of history
    assert day["refused"] == {"WS_SUBSCRIPTION_REFUSED": 1}
    row = UsageDay.objects.get(member__uid="meter")
    assert day["ws_connection_minutes"] == connection_minutes(row.ws_connection_seconds)
    # and the member's portal page charts the messages and lists the refusal
    owner = signed_in(make_user("olivia", "owner"))
    html = owner.get("/members/meter/").content.decode()
    assert f"{row.ws_messages} messages delivered" in html
    assert "WS_SUBSCRIPTION_REFUSED</td><td>WebSocket" in html
