"""The simulated market data REST API's series parameters and its time: determinism,
trading sessions, history and the long poll."""

import datetime as dt
import time

import httpx
import pytest

from orgportal import clock
from sandbox.server import SandboxServer
from tests.conftest import ORG_KEY
from tests.sandbox.market.helpers import (
    NEW_YORK,
    SERIES_ROW_KEYS,
    assert_refused,
    local,
    series,
    utc_day,
)

# --- series parameters ----------------------------------------------------------------


def test_dp_is_an_alias_of_data_points(mega, frozen):
    # when
    by_alias = series(mega, "NASDAQ:AAPL", bar_type="minute", dp=7).json()
    by_name = series(mega, "NASDAQ:AAPL", bar_type="minute", data_points=7).json()

    # then
    assert len(by_alias["series"]) == 7
    assert by_alias["series"] == by_name["series"]


def test_data_points_above_the_plan_maximum_are_clamped(pro, frozen):
    # when: pro allows 20,000
    response = series(pro, "BINANCE:BTCUSDT", bar_type="minute", dp=20_500)

    # then
    assert response.status_code == 200
    assert len(response.json()["series"]) == 20_000


def test_abbr_returns_series_keys_and_array_rows(mega, frozen):
    # when
    full = series(mega, "NASDAQ:AAPL", bar_type="minute", dp=5).json()
    short = series(mega, "NASDAQ:AAPL", bar_type="minute", dp=5, abbr="true").json()

    # then
    assert short["series_keys"] == SERIES_ROW_KEYS
    assert short["series"] == [list(row.values()) for row in full["series"]]


@pytest.mark.parametrize(
    ("bar_type", "interval", "label", "step"),
    [
        ("second", 15, "15s", 15),
        ("minute", 5, "5m", 300),
        ("hour", 4, "4h", 14_400),
        ("day", 1, "1d", 86_400),
        ("week", 1, "1W", 604_800),
    ],
)
def test_bar_times_are_aligned_to_the_bar_size(
    mega, frozen, bar_type, interval, label, step
):
    # when
    data = series(
        mega, "BINANCE:BTCUSDT", bar_type=bar_type, bar_interval=interval, dp=50
    ).json()

    # then
    times = [bar["time"] for bar in data["series"]]
    assert data["bar_type"] == label
    assert len(times) == 50
    # Bitcoin trades around the clock, so consecutive bars are exactly one step apart.
    assert all(b - a == step for a, b in zip(times, times[1:], strict=False))
    if bar_type == "week":
        assert all(dt.datetime.fromtimestamp(t, dt.UTC).weekday() == 0 for t in times)
    else:
        assert all(t % step == 0 for t in times)


def test_month_bars_start_on_the_first(mega, frozen):
    # when
    data = series(mega, "NASDAQ:AAPL", bar_type="month", dp=14).json()

    # then
    days = [dt.datetime.fromtimestamp(bar["time"], dt.UTC) for bar in data["series"]]
    assert data["bar_type"] == "1M"
    assert all(day.day == 1 and day.hour == 0 for day in days)
    assert days[-1].month == 3 and days[0] == dt.datetime(2025, 2, 1, tzinfo=dt.UTC)


def test_adjustment_flags_change_older_prices_only(mega, frozen):
    # when
    plain = series(mega, "CME_MINI:ES1!", bar_type="day", dp=400).json()["series"]
    adjusted = series(mega, "CME_MINI:ES1!", bar_type="day", dp=400, badj="true")
    dividends = series(mega, "NASDAQ:MSFT", bar_type="day", dp=400, dadj="true")

    # then
    adjusted_bars = adjusted.json()["series"]
    assert adjusted_bars[-1] == plain[-1]
    assert adjusted_bars[0]["close"] != plain[0]["close"]
    msft = series(mega, "NASDAQ:MSFT", bar_type="day", dp=400).json()["series"]
    assert dividends.json()["series"][0]["close"] < msft[0]["close"]


# --- time: determinism, sessions, long poll -------------------------------------------


def test_the_same_request_at_the_same_time_gives_the_same_body(mega, org, frozen):
    # given
    path = "/v3/symbols/NASDAQ:AAPL/series?bar_type=minute&dp=300"
    first = mega.get(path).content

    # when: again, and from another sandbox with nothing cached
    again = mega.get(path).content
    with SandboxServer(org_key=ORG_KEY, seed=99) as other:
        with httpx.Client(base_url=other.url, timeout=5) as client:
            created = client.post(
                "/api/organization/members/create",
                json={"uid": "x", "plan": "mega"},
                headers={"Authorization": f"Bearer {ORG_KEY}"},
            ).json()["member"]
            elsewhere = client.get(
                path, headers={"Authorization": f"Bearer {created['api_key']}"}
            ).content

    # then
    assert again == first
    assert elsewhere == first


def test_bars_follow_the_clock(mega, frozen):
    # given
    before = series(mega, "NASDAQ:AAPL", bar_type="minute", dp=3).json()["series"]

    # when: two minutes later
    clock.advance(dt.timedelta(minutes=2))
    after = series(mega, "NASDAQ:AAPL", bar_type="minute", dp=3).json()["series"]

    # then: the closed bars are unchanged, only the one that was in progress moved on
    assert after[0]["time"] == before[2]["time"]
    assert after[0]["open"] == before[2]["open"]
    assert after[2]["time"] == before[2]["time"] + 120


def test_us_equities_trade_their_sessions_and_not_at_weekends(mega):
    # given: Monday 2026-03-09 10:00 New York, bars back into the previous week
    clock.freeze(dt.datetime(2026, 3, 9, 14, 0, tzinfo=dt.UTC))

    # when
    extended = series(mega, "NASDAQ:AAPL", bar_type="minute", dp=2_000).json()
    regular = series(
        mega, "NASDAQ:AAPL", bar_type="minute", dp=2_000, extended="false"
    ).json()

    # then
    moments = [local(bar["time"]) for bar in extended["series"]]
    assert all(moment.weekday() < 5 for moment in moments)
    assert {moment.date().isoformat() for moment in moments} >= {
        "2026-03-06",
        "2026-03-09",
    }
    assert all(dt.time(4) <= moment.time() < dt.time(20) for moment in moments)
    hours = [local(bar["time"]).time() for bar in regular["series"]]
    assert all(dt.time(9, 30) <= hour < dt.time(16) for hour in hours)
    # Nothing at all is asked of a closed market on a Saturday: the bars end Friday.
    clock.freeze(dt.datetime(2026, 3, 7, 18, 0, tzinfo=dt.UTC))
    saturday = series(mega, "NASDAQ:AAPL", bar_type="minute", dp=1).json()
    assert local(saturday["series"][0]["time"]) == dt.datetime(
        2026, 3, 6, 19, 59, tzinfo=NEW_YORK
    )
    quote_ = mega.get("/v3/symbols/quotes", params={"codes": "NASDAQ:AAPL"}).json()
    assert quote_["data"][0]["status"] == "CLOSED"


def test_bitcoin_trades_on_sunday(mega):
    # given: Sunday 2026-03-08, noon UTC
    clock.freeze(dt.datetime(2026, 3, 8, 12, 0, 30, tzinfo=dt.UTC))

    # when
    data = series(mega, "BINANCE:BTCUSDT", bar_type="minute", dp=60).json()
    aapl = series(mega, "NASDAQ:AAPL", bar_type="day", dp=1).json()

    # then
    days = {dt.datetime.fromtimestamp(b["time"], dt.UTC).date() for b in data["series"]}
    assert days == {dt.date(2026, 3, 8)}
    assert (
        data["series"][-1]["time"]
        == dt.datetime(2026, 3, 8, 12, 0, tzinfo=dt.UTC).timestamp()
    )
    assert utc_day(aapl["series"][0]["time"]) == dt.date(2026, 3, 6)  # Friday's


def test_history_returns_the_month_asked_for(mega, frozen):
    # when
    response = mega.get(
        "/v3/symbols/CME_MINI:NQH2025/history",
        params={"bar_type": "hour", "start_date": "2025-01"},
    )
    bad = mega.get(
        "/v3/symbols/NASDAQ:AAPL/history",
        params={"bar_type": "minute", "start_date": "January"},
    )

    # then
    bars = response.json()["series"]
    first, last = (
        dt.datetime.fromtimestamp(b["time"], dt.UTC) for b in (bars[0], bars[-1])
    )
    assert (first.year, first.month) == (2025, 1)
    assert (last.year, last.month) == (2025, 1)
    assert len(bars) > 300
    assert assert_refused(bad, 400, "INVALID_PARAMETER")["details"]["parameter"] == (
        "start_date"
    )


def test_long_poll_holds_the_answer(mega, org, frozen):
    # given
    org.post("/_sandbox/market", json={"long_poll_seconds": 0.3})

    # when
    started = time.monotonic()
    response = series(mega, "NASDAQ:AAPL", bar_type="minute", dp=2, long_poll="true")
    held = time.monotonic() - started
    started = time.monotonic()
    quotes = mega.get(
        "/v3/symbols/quotes", params={"codes": "NASDAQ:AAPL", "long_poll": "true"}
    )
    quotes_held = time.monotonic() - started

    # then
    assert response.status_code == 200 and quotes.status_code == 200
    assert 0.3 <= held < 2
    assert 0.3 <= quotes_held < 2
