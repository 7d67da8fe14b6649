"""The market data gateway end to end: the real web application (uvicorn, in a thread)
in front of the sandbox upstream, driven by plain HTTP clients."""

import concurrent.futures
import datetime as dt

import aiohttp
import httpx
import pytest
import requests

from members.services import operations
from orgportal import clock

pytestmark = pytest.mark.django_db(transaction=True)


def get(web, key, path, **params):
    return httpx.get(
        f"{web.url}{path}",
        params=params,
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )


def test_the_docs_python_examples_run_unchanged(web, member_key):
    API_KEY = member_key("john_doe", "pro")
    BASE_URL = web.url

    # --- from the upstream docs, "REST API - Fetch Historical Data" ---
    def fetch_historical_data(
        symbol, bar_type="minute", bar_interval=1, data_points=1000
    ):
        url = f"{BASE_URL}/v3/symbols/{symbol}/series"
        headers = {"Authorization": f"Bearer {API_KEY}"}
        params = {
            "bar_type": bar_type,
            "bar_interval": bar_interval,
            "data_points": data_points,
        }
        response = requests.get(url, headers=headers, params=params)
        response.raise_for_status()
        return response.json()

    # --- "REST API - Fetch Real-Time Quotes" ---
    def fetch_quotes(symbols):
        url = f"{BASE_URL}/v3/symbols/quotes"
        headers = {"Authorization": f"Bearer {API_KEY}"}
        params = {"codes": ",".join(symbols)}
        response = requests.get(url, headers=headers, params=params)
        response.raise_for_status()
        return response.json()

    # --- "Proven Working Examples", Example 1 ---
    def fetch_historical_candles(symbol, bars=100):
        url = f"{BASE_URL}/v3/symbols/{symbol}/series"
        params = {
            "bar_type": "minute",
            "bar_interval": 1,
            "data_points": bars,
            "extended": True,
        }
        headers = {"Authorization": f"Bearer {API_KEY}"}
        response = requests.get(url, params=params, headers=headers)
        response.raise_for_status()
        return response.json()

    data = fetch_historical_data("NASDAQ:AAPL", bar_type="minute", bar_interval=1)
    assert 0 < len(data["series"]) <= 1000
    quotes = fetch_quotes(["NASDAQ:AAPL", "CME_MINI:MNQ1!"])
    assert {q["code"] for q in quotes["data"]} == {"NASDAQ:AAPL", "CME_MINI:MNQ1!"}
    candles = fetch_historical_candles("CME_MINI:MNQ1!", bars=100)
    latest = candles["series"][-1]
    assert set(latest) >= {"time", "open", "high", "low", "close", "volume"}
    assert candles["code"] == "CME_MINI:MNQ1!"


def test_feature_gates_name_the_plan_that_has_it(web, member_key):
    pro, ultra, mega = (
        member_key("p", "pro"),
        member_key("u", "ultra"),
        member_key("m", "mega"),
    )
    history = {"bar_type": "minute", "start_date": "2026-01"}
    r = get(web, pro, "/v3/symbols/NASDAQ:AAPL/history", **history)
    assert r.status_code == 403
    body = r.json()
    assert body["code"] == "FEATURE_NOT_IN_PLAN"
    assert body["details"]["available_on"] == ["ultra", "mega"]
    assert (
        get(web, ultra, "/v3/symbols/NASDAQ:AAPL/history", **history).status_code == 200
    )
    r = get(web, ultra, "/v3/symbols/NASDAQ:AAPL/series", bar_type="tick", dp=10)
    assert (r.status_code, r.json()["details"]["available_on"]) == (403, ["mega"])
    assert (
        get(
            web, mega, "/v3/symbols/NASDAQ:AAPL/series", bar_type="tick", dp=10
        ).status_code
        == 200
    )


def test_data_points_above_the_plan_are_clamped_with_a_header(web, member_key):
    key = member_key("p", "pro")
    r = get(web, key, "/v3/symbols/BINANCE:BTCUSDT/series", bar_type="minute", dp=30000)
    assert r.status_code == 200
    assert "dp=20000" in r.headers["x-orgportal-adjusted"]
    assert len(r.json()["series"]) == 20000


def test_rate_limit_with_ietf_headers(web, member_key):
    key = member_key("p", "pro")  # 25 requests a minute
    answers = [
        get(web, key, "/v3/symbols/quotes", codes="NASDAQ:AAPL") for _ in range(27)
    ]
    assert [a.status_code for a in answers].count(200) == 25
    ok, refused = answers[0], answers[-1]
    assert ok.headers["ratelimit-policy"] == '"minute";q=25;w=60'
    assert ok.headers["ratelimit-limit"] == "25"
    assert ok.headers["ratelimit-remaining"] == "24"
    assert refused.status_code == 429 and refused.json()["code"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["ratelimit-remaining"] == "0"


def test_refusals_for_keys_and_member_status(web, member_key, frozen):
    key = member_key("p", "pro")
    r = httpx.get(f"{web.url}/v3/symbols/quotes?codes=NASDAQ:AAPL")
    assert (r.status_code, r.json()["code"]) == (401, "MISSING_API_KEY")
    assert get(web, "not-a-key", "/v3/symbols/quotes", codes="X").json()["code"] == (
        "INVALID_API_KEY"
    )
    assert get(web, key, "/v3/symbols/quotes", codes="NASDAQ:AAPL").status_code == 200
    # expiry is seen at once
    clock.advance(dt.timedelta(days=31))
    r = get(web, key, "/v3/symbols/quotes", codes="NASDAQ:AAPL")
    assert (r.status_code, r.json()["code"]) == (403, "MEMBER_EXPIRED")
    operations.member_renew(uid="p", actor="tests")
    assert get(web, key, "/v3/symbols/quotes", codes="NASDAQ:AAPL").status_code == 200
    # cancel and rotation take effect on the very next request
    operations.member_cancel(uid="p", actor="tests")
    r = get(web, key, "/v3/symbols/quotes", codes="NASDAQ:AAPL")
    assert (r.status_code, r.json()["code"]) == (403, "MEMBER_CANCELLED")
    key2 = member_key("q", "pro")
    _, rotated = operations.member_key_rotate(uid="q", actor="tests")
    assert (
        get(web, key2, "/v3/symbols/quotes", codes="X").json()["code"]
        == "INVALID_API_KEY"
    )
    assert (
        get(web, rotated, "/v3/symbols/quotes", codes="NASDAQ:AAPL").status_code == 200
    )
    assert (
        httpx.post(
            f"{web.url}/v3/symbols/quotes",
            headers={"Authorization": f"Bearer {rotated}"},
        ).status_code
        == 405
    )


def test_upstream_faults_map_to_502_and_504(web, member_key, sandbox, settings):
    key = member_key("m", "mega")
    sandbox.state.faults_set(error_rate=1.0, scope="market")
    r = get(web, key, "/v3/symbols/quotes", codes="NASDAQ:AAPL")
    assert (r.status_code, r.json()["code"]) == (502, "UPSTREAM_ERROR")
    sandbox.state.faults_set(error_rate=0.0, drop_rate=1.0, scope="market")
    with pytest.raises(httpx.HTTPError):
        get(web, key, "/v3/symbols/NASDAQ:AAPL/series", bar_type="minute", dp=5000)
    sandbox.state.faults_set(drop_rate=0.0, scope="mutations")
    assert get(web, key, "/v3/symbols/quotes", codes="NASDAQ:AAPL").status_code == 200


def test_unknown_symbol_passes_the_upstream_answer_through(web, member_key):
    key = member_key("m", "mega")
    r = get(web, key, "/v3/symbols/NOPE:NOPE/info")
    assert r.status_code == 404 and "error" in r.json()


def test_identical_concurrent_requests_go_upstream_once(web, member_key, sandbox):
    key = member_key("m", "mega")
    sandbox.state.faults_set(latency_ms=300, scope="market")
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        answers = list(
            pool.map(
                lambda _: get(
                    web, key, "/v3/symbols/NASDAQ:AAPL/series", bar_type="day", dp=50
                ),
                range(10),
            )
        )
    sandbox.state.faults_set(latency_ms=0, scope="mutations")
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert sum(1 for a in answers if a.headers.get("x-coalesced")) >= 5


def test_slow_changing_endpoints_are_cached(web, member_key):
    key = member_key("m", "mega")
    first = get(web, key, "/v3/symbols/NASDAQ:AAPL/info")
    second = get(web, key, "/v3/symbols/NASDAQ:AAPL/info")
    assert first.status_code == second.status_code == 200
    assert second.headers.get("x-cache") == "hit" and first.content == second.content


def test_usage_is_metered_per_member_and_day(web, member_key, api):
    key = member_key("p", "pro")
    for _ in range(3):
        get(web, key, "/v3/symbols/quotes", codes="NASDAQ:AAPL")
    get(web, key, "/v3/symbols/NASDAQ:AAPL/history")  # refused: not in plan
    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        usage = api.get("/api/organization/members/p/usage").json()
        if (
            usage["days"]
            and usage["days"][-1]["requests"] == 3
            and usage["days"][-1]["refused"]
        ):
            break
        time.sleep(0.1)
    day = usage["days"][-1]
    assert day["requests"] == 3
    assert day["refused"] == {"FEATURE_NOT_IN_PLAN": 1}
    assert day["bytes"] > 0


def test_a_slow_upstream_is_504_and_a_dead_one_502(web, member_key, sandbox, settings):
    from orgportal.asgi import market_gateway

    key = member_key("m", "mega")
    # slow: the gateway gives up after MARKET_TIMEOUT
    market_gateway.timeout = aiohttp.ClientTimeout(total=0.5)
    sandbox.state.faults_set(timeout_rate=1.0, hang_seconds=2, scope="market")
    r = get(web, key, "/v3/symbols/quotes", codes="NASDAQ:AAPL")
    assert (r.status_code, r.json()["code"]) == (504, "UPSTREAM_TIMEOUT")
    sandbox.state.faults_set(timeout_rate=0.0, scope="mutations")
    # dead: nothing listens at the upstream address
    market_gateway.base_url = "http://127.0.0.1:9"
    r = get(web, key, "/v3/symbols/quotes", codes="NASDAQ:MSFT")
    assert (r.status_code, r.json()["code"]) == (502, "UPSTREAM_UNAVAILABLE")
    assert "127.0.0.1" not in r.text  # no internal addresses in error bodies


def test_bad_parameters_get_the_upstream_answer(web, member_key):
    key = member_key("m", "mega")
    r = get(web, key, "/v3/symbols/NASDAQ:AAPL/series", bar_type="fortnight")
    assert r.status_code == 400
    assert r.json()["code"] == "INVALID_PARAMETER"
    r = get(web, key, "/v3/symbols/NASDAQ:AAPL/series", bar_type="minute", dp="lots")
    assert r.status_code == 400


def test_without_its_redis_the_gateway_fails_closed(
    transactional_db, sandbox, settings, member_key
):
    from orgportal.asgi import application
    from tests.marketdata.conftest import ThreadedServer

    key = member_key("m", "mega")
    settings.UPSTREAM_MARKET_URL = sandbox.url
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    server = ThreadedServer(application).start()
    try:
        r = get(server, key, "/v3/symbols/quotes", codes="NASDAQ:AAPL")
    finally:
        server.stop()
    assert (r.status_code, r.json()["code"]) == (503, "LIMITS_UNAVAILABLE")
    assert r.headers["retry-after"] == "1"
