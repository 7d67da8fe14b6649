"""The /live subscription rules against the plan table (pure)."""

import pytest

from marketdata.live import rules
from members import tiers
from tests.marketdata.live_helpers import series

PRO = rules.plan_of(tiers.tier_features("pro"), 2)
MEGA = rules.plan_of(tiers.tier_features("mega"), 12)


def msg(*items):
    return {"api_key": "k", "subscriptions": list(items)}


def quote(code):
    return {"code": code, "type": "quote"}


def test_a_series_counts_one_and_quotes_one_per_started_ten():
    accepted, _ = rules.check(msg(series(), *[quote(f"X:{i}") for i in range(10)]), PRO)
    assert rules.count(accepted) == 2
    with pytest.raises(rules.Refused, match="2 allowed, this message asks for 3"):
        rules.check(msg(series(), *[quote(f"X:{i}") for i in range(11)]), PRO)
    accepted, _ = rules.check(msg(*[quote(f"X:{i}") for i in range(20)]), PRO)
    assert rules.count(accepted) == 2


def test_over_the_limit_is_refused_whole():
    with pytest.raises(rules.Refused, match="Subscription limit exceeded: 2 allowed"):
        rules.check(msg(series("A:A"), series("B:B"), series("C:C")), PRO)


def test_the_same_stream_twice_counts_once():
    accepted, _ = rules.check(msg(series(), series(), series("B:B")), PRO)
    assert [s.code for s in accepted] == ["NASDAQ:AAPL", "B:B"]


@pytest.mark.parametrize(
    "message, text",
    [
        ({"api_key": "k"}, "must be a list"),
        (msg(), "cannot be empty"),
        (msg("x"), "must be an object"),
        (msg({"type": "series"}), "'code' is required"),
        (msg(series(type="bars")), "'type' must be"),
        (msg(series(bar_type="year")), "'bar_type' must be one of"),
        (msg(series(bar_interval=0)), "'bar_interval' must be"),
        (msg(series(bar_interval=True)), "'bar_interval' must be"),
        (msg(series(bar_interval="5")), "'bar_interval' must be"),
        (msg(series(extended="yes")), "'extended' must be true or false"),
        (msg(series(code="A" * 65)), "Invalid Symbol Code"),
    ],
)
def test_bad_messages_say_what_is_wrong(message, text):
    with pytest.raises(rules.Refused, match=text):
        rules.check(message, MEGA)


def test_tick_and_max_bars_need_a_tick_plan():
    with pytest.raises(rules.Refused, match="Tick data is not included"):
        rules.check(msg(series(bar_type="tick")), PRO)
    with pytest.raises(rules.Refused, match="max_bars is not included"):
        rules.check(msg(series(max_bars=True)), PRO)
    accepted, _ = rules.check(msg(series(bar_type="tick"), series(max_bars=True)), MEGA)
    assert len(accepted) == 2


@pytest.mark.parametrize(
    "value, plan, expected, noted",
    [
        (500, PRO, 500, False),
        (5000, PRO, 1000, True),
        (5000, MEGA, 5000, False),
        (99999, MEGA, 30000, True),
        (0, PRO, 1000, True),
        ("many", PRO, 1000, True),
    ],
)
def test_max_dp_is_adjusted_down_never_refused(value, plan, expected, noted):
    accepted, notes = rules.check(msg(series(max_dp=value)), plan)
    assert accepted[0].item["max_dp"] == expected
    assert bool(notes) is noted


def test_history_wanted_follows_upstream_priority():
    assert rules.history_wanted({}, PRO) == 100
    assert rules.history_wanted({"recent_bars": False}, PRO) == 1
    assert rules.history_wanted({"max_bars": True}, MEGA) == 30_000
    assert rules.history_wanted({"max_bars": True, "max_dp": 7}, MEGA) == 7


def test_options_that_change_the_data_make_another_stream():
    a, _ = rules.check(msg(series(extended=False)), PRO)
    b, _ = rules.check(msg(series()), PRO)
    c, _ = rules.check(msg(series(recent_bars=False)), PRO)
    assert a[0].stream != b[0].stream
    assert b[0].stream == c[0].stream  # history options only shape the first message


def test_trim_drops_lost_features_then_the_newest():
    subs, _ = rules.check(
        msg(series("A:A", bar_type="tick"), series("B:B"), series("C:C")), MEGA
    )
    assert [s.code for s in rules.trim(subs, PRO)] == ["B:B", "C:C"]
    assert [s.code for s in rules.trim(subs, rules.Plan(1, True, 30000))] == ["A:A"]
