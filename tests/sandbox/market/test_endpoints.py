"""The simulated market data REST API (`/v3/...`), driven over HTTP like a client of the
real upstream: the documented flows and every endpoint's shape and refusals."""

import datetime as dt
from urllib.parse import quote

import pytest

from tests.sandbox.market.helpers import (
    QUOTE_KEYS,
    SERIES_ROW_KEYS,
    assert_refused,
    series,
    utc_day,
)

# --- the documented client flows ------------------------------------------------------


def test_the_docs_fetch_historical_candles_flow(mega, frozen):
    # given: the docs' example, with httpx in place of requests
    symbol = "CME_MINI:MNQ1!"
    params = {"bar_type": "minute", "bar_interval": 1, "data_points": 100}
    params["extended"] = True

    # when
    response = mega.get(f"/v3/symbols/{symbol}/series", params=params)
    response.raise_for_status()
    data = response.json()

    # then
    assert response.headers["content-type"] == "application/json"
    assert data["symbol"] == data["code"] == symbol
    assert data["bar_type"] == "1m"
    assert data["last_update"] == int(frozen.timestamp() * 1000)
    assert len(data["series"]) == 100
    latest = data["series"][-1]
    assert list(latest) == SERIES_ROW_KEYS
    assert all(isinstance(value, float) for value in latest.values())
    assert latest["low"] <= min(latest["open"], latest["close"])
    assert latest["high"] >= max(latest["open"], latest["close"])
    times = [bar["time"] for bar in data["series"]]
    assert times == sorted(set(times))
    assert all(t % 60 == 0 for t in times)
    # The newest bar is the one in progress at the (frozen) clock.
    assert latest["time"] <= frozen.timestamp() < latest["time"] + 60
    assert data["bar_end"] == latest["time"] + 59


def test_the_docs_fetch_quotes_flow(mega, frozen):
    # when
    params = {"codes": ",".join(["NASDAQ:AAPL", "CME_MINI:MNQ1!"])}
    response = mega.get("/v3/symbols/quotes", params=params)
    response.raise_for_status()
    quotes = response.json()

    # then
    assert quotes["total_items"] == 2
    assert quotes["last_update"] == int(frozen.timestamp() * 1000)
    assert [q["code"] for q in quotes["data"]] == ["NASDAQ:AAPL", "CME_MINI:MNQ1!"]
    aapl = quotes["data"][0]
    assert list(aapl) == QUOTE_KEYS
    assert aapl["status"] == "OPEN"
    assert aapl["lp_time"] == frozen.timestamp()
    assert aapl["bid"] < aapl["ask"]
    assert aapl["low_price"] <= aapl["last_price"] <= aapl["high_price"]
    assert aapl["currency_code"] == "USD" and aapl["delay_seconds"] == 0
    assert aapl["change"] == pytest.approx(
        aapl["last_price"] - aapl["prev_close_price"]
    )
    today = series(mega, "NASDAQ:AAPL", bar_type="day", dp=1).json()["series"][-1]
    assert (aapl["open_price"], aapl["volume"]) == (today["open"], today["volume"])
    assert aapl["last_price"] == today["close"]


# --- every endpoint -------------------------------------------------------------------


ENDPOINTS = [
    ("/v3/symbols/NASDAQ:AAPL/series?bar_type=day&dp=5", {"code", "series"}),
    ("/v3/symbols/NASDAQ:AAPL/history?bar_type=hour&start_date=2026-02", {"series"}),
    (
        "/v3/symbols/NASDAQ:AAPL/info",
        {"code", "type", "name", "exchange", "currency_code", "timezone", "status"},
    ),
    ("/v3/symbols/quotes?codes=NYSE:TSLA", {"last_update", "total_items", "data"}),
    ("/v3/symbols/search?query=apple", {"current_page", "has_more", "symbols"}),
    (
        "/v3/symbols/NASDAQ:MSFT/fundamentals",
        {"code", "valuation", "income_statement", "balance_sheet", "cash_flow"},
    ),
    ("/v3/symbols/NASDAQ:MSFT/fundamentals/series", {"code", "period", "series"}),
    ("/v3/symbols/COMEX:GC1!/contracts", {"base_code", "contracts"}),
    ("/v3/symbols/FX:EURUSD/session", {"code", "timezone", "holidays"}),
    ("/v3/symbols/exchanges", {"total_items", "exchanges"}),
    ("/v3/newsfeed?limit=3", {"last_update", "total_items", "data"}),
    ("/v3/documents?code=NASDAQ:AAPL", {"code", "total_items", "data"}),
    ("/v3/calendar/dividends", {"from", "to", "total_items", "data"}),
    ("/v3/calendar/earnings?from=2026-04-01&to=2026-05-01", {"data"}),
    ("/v3/calendar/ipos", {"data"}),
    ("/v3/calendar/events", {"data"}),
    ("/v3/screeners/stock", {"delay_seconds", "total_items", "data"}),
    ("/v3/screeners/etf", {"data"}),
    ("/v3/screeners/bond", {"data"}),
    ("/v3/screeners/crypto", {"data"}),
    ("/v3/options/list?code=NASDAQ:AAPL", {"code", "codes"}),
    ("/v3/options/expiration?code=NASDAQ:AAPL&expiration=2026-03-06", {"data"}),
    ("/v3/options/strike?code=NASDAQ:AAPL&strike=245", {"data"}),
]


@pytest.mark.parametrize(
    ("path", "keys"), ENDPOINTS, ids=[path for path, _ in ENDPOINTS]
)
def test_every_endpoint_answers_json_with_its_shape(mega, frozen, path, keys):
    # when
    response = mega.get(path)

    # then
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-ratelimit-limit"] == "80"
    body = response.json()
    assert keys <= set(body)
    items = body.get("data") or body.get("series") or body.get("symbols")
    items = items or body.get("codes") or body.get("contracts")
    if items is not None and path != "/v3/calendar/ipos":
        assert items, f"{path} answered no items"


def test_lists_carry_plausible_records(mega, frozen):
    # when
    contracts = mega.get("/v3/symbols/COMEX:GC1!/contracts").json()
    chain = mega.get(
        "/v3/options/expiration",
        params={"code": "NASDAQ:AAPL", "expiration": "2026-03-06"},
    ).json()
    news = mega.get("/v3/newsfeed", params={"limit": 3}).json()
    found = mega.get("/v3/symbols/search", params={"query": "NASDAQ:"}).json()

    # then
    assert contracts["base_code"] == "COMEX:GC"
    first = contracts["contracts"][0]
    assert first["code"].startswith("COMEX:GC") and len(first["settlement_date"]) == 8
    assert mega.get(f"/v3/symbols/{quote(first['code'])}/info").status_code == 200
    option = chain["data"][0]
    assert option["code"].startswith("OPRA:AAPL260306")
    assert option["type"] in ("CALL", "PUT") and option["expiration"] == 20260306
    assert option["bid_price"] <= option["ask_price"]
    published = [item["published_at"] for item in news["data"]]
    assert published == sorted(published, reverse=True)
    assert published[0] <= frozen.timestamp()
    assert {s["exchange"] for s in found["symbols"]} == {"NASDAQ"}


UNIVERSE = [
    "NASDAQ:AAPL",
    "NASDAQ:MSFT",
    "NYSE:TSLA",
    "CME_MINI:MNQ1!",
    "CME_MINI:NQ1!",
    "CME_MINI:ES1!",
    "CME_MINI:NQH2025",
    "COMEX:GC1!",
    "BINANCE:BTCUSDT",
    "COINBASE:BTC-USD",
    "FX:EURUSD",
]


def test_the_symbol_universe_has_info_and_bars(mega, frozen):
    for code in UNIVERSE:
        # when
        info = mega.get(f"/v3/symbols/{quote(code, safe='')}/info")
        bars = series(mega, quote(code, safe=""), bar_type="hour", dp=3)

        # then
        assert info.status_code == 200, code
        assert info.json()["code"] == code
        assert len(bars.json()["series"]) == 3, code
    # The dated contract expired in March 2025: its bars end there.
    expired = series(mega, "CME_MINI:NQH2025", bar_type="day", dp=1).json()
    assert utc_day(expired["series"][-1]["time"]) == dt.date(2025, 3, 21)


def test_a_percent_encoded_symbol_is_the_same_symbol(mega, frozen):
    # when
    plain = series(mega, "CME_MINI:MNQ1!", bar_type="minute", dp=3)
    encoded = series(mega, "CME_MINI%3AMNQ1%21", bar_type="minute", dp=3)

    # then
    assert encoded.status_code == 200
    assert encoded.json() == plain.json()


def test_unknown_symbols_are_refused(mega, frozen):
    # when
    response = series(mega, "NASDAQ:NOPE", bar_type="minute")
    quotes = mega.get("/v3/symbols/quotes", params={"codes": "NASDAQ:AAPL,X:Y"})

    # then
    body = assert_refused(response, 404, "SYMBOL_NOT_FOUND")
    assert body["error"] == "Invalid Symbol Code"
    assert assert_refused(quotes, 404, "SYMBOL_NOT_FOUND")["details"] == {
        "codes": ["X:Y"]
    }


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({}, "bar_type"),
        ({"bar_type": "fortnight"}, "bar_type"),
        ({"bar_type": "minute", "bar_interval": 0}, "bar_interval"),
        ({"bar_type": "minute", "data_points": 0}, "data_points"),
        ({"bar_type": "minute", "data_points": 30_001}, "data_points"),
        ({"bar_type": "minute", "dp": "many"}, "dp"),
        ({"bar_type": "minute", "extended": "maybe"}, "extended"),
        ({"bar_type": "minute", "badj": "2"}, "badj"),
    ],
)
def test_bad_series_parameters_are_named(mega, frozen, params, parameter):
    # when
    response = series(mega, "NASDAQ:AAPL", **params)

    # then
    body = assert_refused(response, 400, "INVALID_PARAMETER")
    assert body["details"]["parameter"] == parameter


def test_quotes_take_at_most_ten_codes(mega, frozen):
    # when
    codes = ",".join(["NASDAQ:AAPL"] * 11)
    response = mega.get("/v3/symbols/quotes", params={"codes": codes})

    # then
    assert assert_refused(response, 400, "INVALID_PARAMETER")["details"][
        "parameter"
    ] == ("codes")
