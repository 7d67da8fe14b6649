"""The simulated market data REST API's shapes and the calls its tests make."""

import datetime as dt
from zoneinfo import ZoneInfo

import httpx

from tests.sandbox.helpers import post_ok

# Wednesday 2026-03-04, 10:30:17 in New York: US equities in regular hours.
T0 = dt.datetime(2026, 3, 4, 15, 30, 17, tzinfo=dt.UTC)
NEW_YORK = ZoneInfo("America/New_York")
SERIES_ROW_KEYS = ["time", "open", "high", "low", "close", "volume"]
QUOTE_KEYS = [
    "code",
    "status",
    "lp_time",
    "volume",
    "last_price",
    "change_percent",
    "change",
    "ask",
    "bid",
    "ask_size",
    "bid_size",
    "prev_close_price",
    "open_price",
    "low_price",
    "high_price",
    "market_cap",
    "currency_code",
    "delay_seconds",
]


def add_plan(org: httpx.Client, **plan: object) -> None:
    post_ok(org, "/_sandbox/plans", {"price": 10, **plan})


def usage(org: httpx.Client, uid: str) -> dict:
    return org.get("/_sandbox/usage", params={"uid": uid}).json()["usage"][0]


def assert_refused(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert "application/json" in response.headers["content-type"]
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["details"], dict)
    assert "success" not in body
    return body


def series(client: httpx.Client, code: str, **params: object) -> httpx.Response:
    return client.get(f"/v3/symbols/{code}/series", params=params)


def local(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, NEW_YORK)


def utc_day(timestamp: float) -> dt.date:
    """A day bar's session date: its time is 00:00 UTC of that date."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).date()
