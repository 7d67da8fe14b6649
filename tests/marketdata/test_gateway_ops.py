"""What operators see of the market data gateway: a request id on every answer, and
its requests in the web process's metrics, by route pattern and status."""

import httpx
import pytest
from prometheus_client import REGISTRY

from marketdata.routes import route_template

pytestmark = pytest.mark.django_db(transaction=True)

SERIES = "v3/symbols/<symbol>/series"


def _served(route: str, status: str, method: str = "GET") -> float:
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("orgportal_http_requests_total", labels) or 0.0


def _timed(route: str, method: str = "GET") -> float:
    labels = {"method": method, "route": route}
    return (
        REGISTRY.get_sample_value("orgportal_http_request_seconds_count", labels) or 0
    )


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/v3/symbols/NASDAQ:AAPL/series", SERIES),
        ("/v3/symbols/CME_MINI:MNQ1!/history", "v3/symbols/<symbol>/history"),
        (
            "/v3/symbols/X/fundamentals/series",
            "v3/symbols/<symbol>/fundamentals/series",
        ),
        ("/v3/symbols/quotes", "v3/symbols/quotes"),
        ("/v3/symbols/search", "v3/symbols/search"),
        ("/v3/calendar/dividends", "v3/calendar/<kind>"),
        ("/v3/screeners/stock", "v3/screeners/<kind>"),
        ("/v3/newsfeed", "v3/newsfeed"),
        ("/v3/options/list", "v3/options/list"),
        ("/v3/symbols/X/nonsense", "unmatched"),
        ("/v3/symbols//series", "unmatched"),
        ("/v3/whatever/a/b", "unmatched"),
    ],
)
def test_each_path_is_labelled_by_its_route_pattern(path, route):
    assert route_template(path) == route


def test_gateway_requests_are_counted_by_route_and_status(web, member_key):
    key = member_key("m", "pro")
    ok_before, refused_before = _served(SERIES, "2xx"), _served(SERIES, "4xx")
    timed_before = _timed(SERIES)

    ok = httpx.get(
        f"{web.url}/v3/symbols/NASDAQ:AAPL/series",
        params={"bar_type": "minute", "dp": 10},
        headers={"Authorization": f"Bearer {key}"},
    )
    refused = httpx.get(f"{web.url}/v3/symbols/NASDAQ:MSFT/series")  # no key

    assert (ok.status_code, refused.status_code) == (200, 401)
    assert _served(SERIES, "2xx") == ok_before + 1
    assert _served(SERIES, "4xx") == refused_before + 1
    assert _timed(SERIES) == timed_before + 2
    # and /metrics shows them, without the symbols
    text = httpx.get(f"{web.url}/metrics").text
    assert f'route="{SERIES}"' in text
    assert "NASDAQ:MSFT" not in text


def test_every_gateway_answer_carries_a_request_id(web, member_key):
    key = member_key("m", "pro")
    auth = {"Authorization": f"Bearer {key}"}
    quotes = f"{web.url}/v3/symbols/quotes?codes=NASDAQ:AAPL"

    fresh = httpx.get(quotes, headers=auth)
    echoed = httpx.get(quotes, headers={**auth, "X-Request-ID": "trace-42.a:b"})
    replaced = httpx.get(quotes, headers={**auth, "X-Request-ID": "x" * 200})
    refused = httpx.get(quotes, headers={"X-Request-ID": "trace-43"})  # no key
    wrong_method = httpx.post(quotes, headers=auth)

    assert fresh.status_code == 200 and len(fresh.headers["x-request-id"]) == 32
    assert echoed.headers["x-request-id"] == "trace-42.a:b"
    assert len(replaced.headers["x-request-id"]) == 32
    assert refused.status_code == 401
    assert refused.headers["x-request-id"] == "trace-43"
    assert wrong_method.status_code == 405
    assert len(wrong_method.headers["x-request-id"]) == 32
    assert fresh.headers["x-request-id"] != replaced.headers["x-request-id"]
