from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketdata import features


@pytest.mark.parametrize(
    ("path", "query", "feature"),
    [
        ("/v3/symbols/NASDAQ:AAPL/history", {}, "deep_history"),
        ("/v3/symbols/NASDAQ:AAPL/series", {"bar_type": "tick"}, "tick_data"),
        ("/v3/symbols/NASDAQ:AAPL/series", {"bar_type": "minute"}, None),
        ("/v3/newsfeed", {}, "newsfeed"),
        ("/v3/documents", {}, "documents"),
        ("/v3/symbols/quotes", {"codes": "NASDAQ:AAPL"}, None),
        ("/v3/screeners/stock", {}, None),
    ],
)
def test_required_feature(path, query, feature):
    assert features.required_feature(path, query) == feature


def test_refusal_names_the_plans_that_have_it():
    refusal = features.feature_refusal(
        tier="pro", plan="pro", feature="deep_history", newsfeed=True
    )
    assert refusal.status == 403 and refusal.code == "FEATURE_NOT_IN_PLAN"
    assert refusal.details["available_on"] == ["ultra", "mega"]
    assert "ultra" in refusal.message
    assert (
        features.feature_refusal(
            tier="ultra", plan="ultra_plus", feature="deep_history", newsfeed=True
        )
        is None
    )
    tick = features.feature_refusal(
        tier="ultra", plan="ultra", feature="tick_data", newsfeed=True
    )
    assert tick.details["available_on"] == ["mega"]
    off = features.feature_refusal(
        tier="mega", plan="mega", feature="newsfeed", newsfeed=False
    )
    assert off is not None


def test_data_points_above_the_plan_are_clamped_under_either_name():
    query, note = features.clamp_data_points(
        [("dp", "30000"), ("bar_type", "minute")], 20000
    )
    assert query == [("dp", "20000"), ("bar_type", "minute")]
    assert "20000" in note and "30000" in note
    query, note = features.clamp_data_points([("data_points", "100")], 20000)
    assert query == [("data_points", "100")] and note is None


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet="ab=&;dp_x0123%+é\u00ff ", max_size=40))
def test_the_gateways_query_parse_is_parse_qsl(raw):
    """The gateway's fast path (no '%' or '+') and its fallback read a query exactly
    as urllib's parse_qsl(keep_blank_values=True) does."""
    from marketdata.gateway import _parse_query

    assert _parse_query(raw) == parse_qsl(raw, keep_blank_values=True)
