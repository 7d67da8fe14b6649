"""The simulated market data REST API (`/v3/...`), driven over HTTP like a client of the
real upstream: members are created through the Organization API and call with their
upstream key."""

import datetime as dt
import time
from collections.abc import Iterator
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import pytest

from orgportal import clock
from sandbox.server import SandboxServer

ORG_KEY = "test-org-key"
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


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(org_key=ORG_KEY, seed=7) as running:
        yield running


@pytest.fixture
def sandbox(server: SandboxServer) -> Iterator[SandboxServer]:
    server.state.reset()
    yield server
    server.state.reset()


@pytest.fixture
def frozen() -> Iterator[dt.datetime]:
    clock.freeze(T0)
    yield T0
    clock.reset()


@pytest.fixture
def org(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """The Organization API and, without a key, the control API."""
    headers = {"Authorization": f"Bearer {ORG_KEY}"}
    with httpx.Client(base_url=sandbox.url, headers=headers, timeout=5) as client:
        yield client


@pytest.fixture
def connect(sandbox: SandboxServer) -> Iterator:
    """connect(key) -> an httpx client calling the market API as that member."""
    clients: list[httpx.Client] = []

    def make(key: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        client = httpx.Client(base_url=sandbox.url, headers=headers, timeout=5)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def member_key(org: httpx.Client, uid: str, plan: str) -> str:
    """A member created through the Organization API; its upstream key is
    `member.api_key` in the answer."""
    response = org.post(
        "/api/organization/members/create", json={"uid": uid, "plan": plan}
    )
    assert response.status_code == 200, response.text
    return response.json()["member"]["api_key"]


def add_plan(org: httpx.Client, **plan: object) -> None:
    response = org.post("/_sandbox/plans", json={"price": 10, **plan})
    assert response.status_code == 200, response.text


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


@pytest.fixture
def mega(org: httpx.Client, connect) -> httpx.Client:
    return connect(member_key(org, "mega-member", "mega"))


@pytest.fixture
def pro(org: httpx.Client, connect) -> httpx.Client:
    return connect(member_key(org, "pro-member", "pro"))


def series(client: httpx.Client, code: str, **params: object) -> httpx.Response:
    return client.get(f"/v3/symbols/{code}/series", params=params)


def local(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, NEW_YORK)


def utc_day(timestamp: float) -> dt.date:
    """A day bar's session date: its time is 00:00 UTC of that date."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).date()


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


# --- plans: features, rate limits, quotas ---------------------------------------------


def test_deep_history_needs_ultra(org, connect, frozen):
    # given
    pro = connect(member_key(org, "p", "pro"))
    ultra = connect(member_key(org, "u", "ultra"))
    path = "/v3/symbols/NASDAQ:AAPL/history?bar_type=minute&start_date=2026-02"

    # when
    refused = pro.get(path)
    allowed = ultra.get(path)

    # then
    body = assert_refused(refused, 403, "FEATURE_NOT_IN_PLAN")
    assert body["details"]["available_on"] == ["ultra", "mega"]
    assert allowed.status_code == 200


def test_tick_data_needs_mega(org, connect, mega, frozen):
    # given
    ultra = connect(member_key(org, "u", "ultra"))

    # when
    refused = series(ultra, "NASDAQ:AAPL", bar_type="tick", dp=10)
    ticks = series(mega, "NASDAQ:AAPL", bar_type="tick", dp=10)

    # then
    body = assert_refused(refused, 403, "FEATURE_NOT_IN_PLAN")
    assert body["details"]["available_on"] == ["mega"]
    data = ticks.json()
    assert data["bar_type"] == "tick" and len(data["series"]) == 10
    assert all(row["time"] <= frozen.timestamp() for row in data["series"])


def test_custom_plans_take_their_tiers_features(org, connect, frozen):
    # given
    add_plan(org, name="pro_fast", feature="pro", rate_limit=500)
    member = connect(member_key(org, "c", "pro_fast"))

    # when
    response = series(member, "NASDAQ:AAPL", bar_type="tick")

    # then
    assert_refused(response, 403, "FEATURE_NOT_IN_PLAN")
    info = member.get("/v3/symbols/NASDAQ:AAPL/info")
    assert info.headers["x-ratelimit-limit"] == "500"


def test_pro_sees_screeners_delayed(pro, mega, frozen):
    # when
    delayed = pro.get("/v3/screeners/stock").json()
    live = mega.get("/v3/screeners/stock").json()

    # then
    assert delayed["delay_seconds"] == 900
    assert live["delay_seconds"] == 0


def test_the_rate_limit_is_exact_and_says_when_to_retry(pro, org, frozen):
    # when: pro allows 25 a minute
    answers = [pro.get("/v3/symbols/NASDAQ:AAPL/info") for _ in range(26)]

    # then
    assert [a.status_code for a in answers[:25]] == [200] * 25
    remaining = [int(a.headers["x-ratelimit-remaining"]) for a in answers[:25]]
    assert remaining == list(range(24, -1, -1))
    body = assert_refused(answers[25], 429, "RATE_LIMITED")
    assert body["error"] == "Rate limit exceeded"
    assert answers[25].headers["retry-after"] == "60"
    assert usage(org, "pro-member")["total"] == 25

    # when: the window slides past the first requests
    clock.advance(dt.timedelta(seconds=59))
    still = pro.get("/v3/symbols/NASDAQ:AAPL/info")
    clock.advance(dt.timedelta(seconds=1))
    again = pro.get("/v3/symbols/NASDAQ:AAPL/info")

    # then
    assert still.status_code == 429 and still.headers["retry-after"] == "1"
    assert again.status_code == 200


def test_the_monthly_quota_is_exact(org, connect, frozen):
    # given: a custom plan with a tiny quota
    add_plan(org, name="tiny", feature="pro", rate_limit=100, quota=3)
    member = connect(member_key(org, "t", "tiny"))

    # when
    answers = [member.get("/v3/symbols/NASDAQ:AAPL/info") for _ in range(5)]

    # then
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    body = assert_refused(answers[3], 429, "QUOTA_EXCEEDED")
    assert body["error"] == "quota_exceeded"
    counted = usage(org, "t")
    assert counted["month_count"] == 3 and counted["quota_refused"] == 2
    assert org.get("/api/organization/members/t").json()["member"]["quota_exceeded"]

    # when: the next UTC month starts
    clock.freeze(dt.datetime(2026, 4, 1, tzinfo=dt.UTC))
    fresh = member.get("/v3/symbols/NASDAQ:AAPL/info")

    # then
    assert fresh.status_code == 200
    assert usage(org, "t")["month_count"] == 1


def test_refused_requests_are_not_counted(pro, org, frozen):
    # when
    pro.get("/v3/symbols/NASDAQ:NOPE/info")
    pro.get("/v3/symbols/NASDAQ:AAPL/series")
    pro.get("/v3/symbols/NASDAQ:AAPL/history?bar_type=minute&start_date=2026-01")
    pro.get("/v3/not-a-route")
    pro.get("/v3/symbols/NASDAQ:AAPL/info")

    # then
    counted = usage(org, "pro-member")
    assert counted["total"] == 1 and counted["last_minute"] == 1


# --- keys and member status -----------------------------------------------------------


@pytest.mark.parametrize("key", [None, "not-a-member-key"], ids=["missing", "unknown"])
def test_requests_without_a_member_key_are_refused(connect, frozen, key):
    # when
    response = connect(key).get("/v3/symbols/NASDAQ:AAPL/info")

    # then
    assert response.status_code == 401
    assert response.json() == {
        "error": "Invalid or missing API key",
        "code": "UNAUTHORIZED",
        "details": {},
    }


@pytest.mark.parametrize("action", ["cancel", "expire"])
def test_inactive_members_are_refused(org, connect, frozen, action):
    # given
    client = connect(member_key(org, "gone", "pro"))
    if action == "cancel":
        org.post("/api/organization/members/gone/cancel")
    else:
        org.post("/_sandbox/members/gone/expire")

    # when
    response = client.get("/v3/symbols/NASDAQ:AAPL/info")

    # then
    body = assert_refused(response, 403, "SUBSCRIPTION_INACTIVE")
    assert body["details"]["status"] == (
        "cancelled" if action == "cancel" else "expired"
    )


def test_a_deleted_members_key_stops_working(org, connect, frozen):
    # given
    client = connect(member_key(org, "deleted", "pro"))
    org.delete("/api/organization/members/deleted")

    # when
    response = client.get("/v3/symbols/NASDAQ:AAPL/info")

    # then
    assert_refused(response, 401, "UNAUTHORIZED")


# --- faults ---------------------------------------------------------------------------


def test_a_dropped_connection_breaks_the_body(mega, org, frozen):
    # given
    org.post("/_sandbox/faults", json={"drop_rate": 1.0, "scope": "market"})

    # when / then
    with pytest.raises(httpx.RemoteProtocolError):
        series(mega, "NASDAQ:AAPL", bar_type="minute", dp=50)
    # Only the market API is in scope.
    assert org.get("/api/organization/plans").status_code == 200


def test_an_error_fault_refuses_without_counting(mega, org, frozen):
    # given
    org.post("/_sandbox/faults", json={"error_rate": 1.0, "scope": "market"})

    # when
    response = mega.get("/v3/symbols/NASDAQ:AAPL/info")
    member_reads = org.get("/api/organization/members")

    # then
    body = assert_refused(response, 503, "SANDBOX_FAULT")
    assert body["error"] == "Sandbox injected fault"
    assert usage(org, "mega-member")["total"] == 0
    assert member_reads.status_code == 200


def test_faults_scoped_to_all_cover_both_apis(mega, org, frozen):
    # given
    org.post("/_sandbox/faults", json={"error_rate": 1.0, "scope": "all"})

    # when
    market = mega.get("/v3/symbols/NASDAQ:AAPL/info")
    organization = org.get("/api/organization/plans")

    # then
    assert market.status_code == 503 and organization.status_code == 503


def test_a_drop_scoped_to_all_breaks_organization_answers_too(mega, org, frozen):
    # given
    org.post("/_sandbox/faults", json={"drop_rate": 1.0, "scope": "all"})

    # when / then
    with pytest.raises(httpx.RemoteProtocolError):
        org.get("/api/organization/plans")
    with pytest.raises(httpx.RemoteProtocolError):
        mega.get("/v3/symbols/exchanges")


def test_market_faults_follow_the_seed(mega, org, frozen):
    def statuses(seed: int) -> list[int]:
        org.post(
            "/_sandbox/faults",
            json={"error_rate": 0.5, "scope": "market", "seed": seed},
        )
        return [mega.get("/v3/symbols/exchanges").status_code for _ in range(12)]

    # when
    first, again, other = statuses(3), statuses(3), statuses(4)

    # then
    assert first == again
    assert set(first) == {200, 503}
    assert other != first


# --- the control API ------------------------------------------------------------------


def test_usage_and_market_settings_are_visible(mega, org, frozen):
    # given
    mega.get("/v3/symbols/NASDAQ:AAPL/info")
    mega.get("/v3/symbols/NASDAQ:AAPL/info")

    # when
    counted = usage(org, "mega-member")
    state = org.get("/_sandbox/state").json()

    # then
    assert counted == {
        "uid": "mega-member",
        "plan": "mega",
        "rate_limit": 80,
        "quota": 0,
        "last_minute": 2,
        "month": "2026-03",
        "month_count": 2,
        "total": 2,
        "rate_limited": 0,
        "quota_refused": 0,
        "quota_exceeded": False,
    }
    assert state["market"] == {"long_poll_seconds": 5.0}


def test_added_plans_are_in_the_catalogue_until_reset(org):
    # when
    add_plan(org, name="bench", feature="mega", rate_limit=1_000_000, quota=0)
    listed = org.get("/api/organization/plans").json()["custom_plans"]
    org.post("/_sandbox/reset")
    after = org.get("/api/organization/plans").json()["custom_plans"]

    # then
    assert "bench" in [plan["name"] for plan in listed]
    assert "bench" not in [plan["name"] for plan in after]


@pytest.mark.parametrize(
    ("plan", "field"),
    [
        ({"name": "x", "feature": "gold"}, "feature"),
        ({"name": "pro", "feature": "pro"}, "name"),
        ({"name": "x", "feature": "pro", "rate_limit": 0}, "rate_limit"),
        ({"name": "x", "feature": "pro", "price": "free"}, "price"),
    ],
)
def test_bad_plans_are_refused(org, plan, field):
    # when
    response = org.post("/_sandbox/plans", json=plan)

    # then
    assert response.status_code == 400
    assert response.json()["details"]["field"] == field
