"""P&L candles on the `pnl` topic: the initial series from the account's fills and the
prices of the time, then live candles, for every interval."""

import asyncio
import datetime as dt

import pytest

from tests.conftest import T0
from tests.sandbox.aries.conftest import (
    is_event,
    new_user,
    next_where,
    open_session,
    place,
    set_price,
    subscribe,
    wait_for_order,
)
from tests.sandbox.helpers import frames_for

# How long each interval's candle is, to move the clock into the next one.
NEXT_CANDLE = {
    "15s": dt.timedelta(seconds=15),
    "1m": dt.timedelta(minutes=1),
    "5m": dt.timedelta(minutes=5),
    "15m": dt.timedelta(minutes=15),
    "1h": dt.timedelta(hours=1),
    "1d": dt.timedelta(days=1),
    "1mo": dt.timedelta(days=31),
}
T0_SECONDS = int(T0.timestamp())  # 2026-03-01T12:00:00Z
DAY_START = int(dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp())
ALIGNED = {
    "15s": T0_SECONDS,
    "1m": T0_SECONDS,
    "5m": T0_SECONDS,
    "15m": T0_SECONDS,
    "1h": T0_SECONDS,
    "1d": DAY_START,
    "1mo": DAY_START,  # March 1st
}
NEXT_ALIGNED = {
    "15s": T0_SECONDS + 15,
    "1m": T0_SECONDS + 60,
    "5m": T0_SECONDS + 300,
    "15m": T0_SECONDS + 900,
    "1h": T0_SECONDS + 3600,
    "1d": DAY_START + 86_400,
    "1mo": int(dt.datetime(2026, 4, 1, tzinfo=dt.UTC).timestamp()),
}


def pnl_params(
    account_id: str, interval: str | None = "1m", start="2024-01-01T00:00:00Z"
):
    params = {"accountId": account_id, "startTime": start}
    if interval is not None:
        params["interval"] = interval
    return params


@pytest.fixture
def holder(control, fast, frozen):
    """At T0: a user with 100,000.00 who bought 10 AAPL at 100.00."""
    user = new_user(control, cash="100000.00")
    set_price(control, "AAPL", "100.00")
    ord_id = place(control, user["account_ids"][0], "BUY", "10")
    wait_for_order(control, ord_id, "FILLED")
    return user


async def test_the_initial_series_follows_fills_and_prices(
    control, ws_url, holder, frozen
):
    # given: two minutes on, AAPL moves to 110.00; one more minute passes
    account_id = holder["account_ids"][0]
    frozen.advance(dt.timedelta(minutes=2))
    set_price(control, "AAPL", "110.00")
    frozen.advance(dt.timedelta(minutes=1))
    ws = await open_session(ws_url, holder["access_token"])

    # when
    reply = await subscribe(ws, "pnl", pnl_params(account_id, "1m"))

    # then
    assert reply["type"] == "subscribed"
    payload = reply["payload"]
    assert payload["topic"] == "pnl" and payload["status"] == 200
    assert payload["params"] == {
        "accountId": account_id,
        "interval": "1m",
        "startTime": "2024-01-01T00:00:00Z",
    }
    assert payload["data"] == {
        "accountId": account_id,
        "interval": "1m",
        "t": [T0_SECONDS, T0_SECONDS + 60, T0_SECONDS + 120, T0_SECONDS + 180],
        "c": ["100000.00", "100000.00", "100100.00", "100100.00"],
    }
    await ws.close()


async def test_the_interval_defaults_to_one_minute(control, ws_url, holder):
    ws = await open_session(ws_url, holder["access_token"])

    reply = await subscribe(ws, "pnl", pnl_params(holder["account_ids"][0], None))

    assert reply["payload"]["data"]["interval"] == "1m"
    assert reply["payload"]["params"]["interval"] == "1m"
    await ws.close()


async def test_a_start_after_the_accounts_opening_cuts_the_series(
    control, ws_url, holder, frozen
):
    frozen.advance(dt.timedelta(minutes=5))
    ws = await open_session(ws_url, holder["access_token"])

    reply = await subscribe(
        ws, "pnl", pnl_params(holder["account_ids"][0], "1m", "2026-03-01T12:03:30Z")
    )

    assert reply["payload"]["data"]["t"] == [
        T0_SECONDS + 180,
        T0_SECONDS + 240,
        T0_SECONDS + 300,
    ]


@pytest.mark.parametrize("interval", list(NEXT_CANDLE))
async def test_live_candles_for_every_interval(
    control, ws_url, holder, frozen, interval
):
    # given
    account_id = holder["account_ids"][0]
    ws = await open_session(ws_url, holder["access_token"])
    reply = await subscribe(ws, "pnl", pnl_params(account_id, interval))
    assert reply["payload"]["data"]["t"] == [ALIGNED[interval]]
    assert reply["payload"]["data"]["c"] == ["100000.00"]

    # when: the price moves within the candle, then the next candle begins
    set_price(control, "AAPL", "101.25")
    moved = await next_where(ws, is_event("pnl"))
    frozen.advance(NEXT_CANDLE[interval])
    following = await next_where(ws, is_event("pnl"))

    # then: t in Unix seconds, c the equity
    assert moved["payload"]["data"] == {
        "accountId": account_id,
        "interval": interval,
        "t": [ALIGNED[interval]],
        "c": ["100012.50"],
    }
    assert following["payload"]["data"]["t"] == [NEXT_ALIGNED[interval]]
    assert following["payload"]["data"]["c"] == ["100012.50"]
    await ws.close()


async def test_no_live_candle_while_nothing_changes(control, ws_url, holder):
    ws = await open_session(ws_url, holder["access_token"])
    await subscribe(ws, "pnl", pnl_params(holder["account_ids"][0], "1h"))

    assert await frames_for(ws, 0.3) == []
    await ws.close()


async def test_a_fill_shows_in_the_next_live_candle(control, ws_url, holder):
    # given
    account_id = holder["account_ids"][0]
    ws = await open_session(ws_url, holder["access_token"])
    await subscribe(ws, "pnl", pnl_params(account_id, "1h"))
    set_price(control, "AAPL", "100.10")
    await next_where(ws, is_event("pnl"))

    # when: 10 more bought at 100.10 (equity unchanged), then the price falls
    ord_id = place(control, account_id, "BUY", "10")
    wait_for_order(control, ord_id, "FILLED")
    set_price(control, "AAPL", "99.00")
    candle = await next_where(ws, is_event("pnl"))

    # then: 20 × 99.00 + 100000.00 - 1000.00 - 1001.00
    assert candle["payload"]["data"]["c"] == ["99979.00"]
    await asyncio.sleep(0)
    await ws.close()
