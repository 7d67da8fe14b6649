"""The inline SVG charts: axes that start at zero on round steps, a tooltip per value,
text escaped, an accessible name."""

import re

from billing.money import format_amount
from portal import charts


def test_nice_steps_are_round():
    assert charts.nice_step(100) == 25
    assert charts.nice_step(7) == 2
    assert charts.nice_step(1_000_000) == 250_000
    assert charts.nice_step(0) == 1


def test_bar_chart_has_a_bar_and_tooltip_per_point_and_escapes_labels():
    svg = charts.bar_chart(
        [("<a>", 3), ("b", 0), ("c", 12)], title="Requests & more", unit="requests"
    )
    assert svg.count("<rect") == 3
    assert "<title>&lt;a&gt;: 3 requests</title>" in svg
    assert 'role="img"' in svg and "Requests &amp; more" in svg
    ticks = re.findall(r'class="tick"[^>]*>([^<]+)<', svg)
    # y axis from zero in round steps, then the x labels
    assert ticks == ["0", "5", "10", "15", "&lt;a&gt;", "b", "c"]
    assert "highest 12 requests on c" in svg


def test_line_chart_formats_values_and_handles_negatives():
    svg = charts.line_chart(
        [("d1", 150_000), ("d2", -2_500)], title="Balance", fmt=format_amount
    )
    assert svg.count("<circle") == 2
    assert "<title>d1: 1500.00</title>" in svg and "<title>d2: -25.00</title>" in svg
    # the axis reaches below zero to show the negative point
    assert re.search(r">-\d+\.\d\d<", svg)


def test_an_empty_chart_says_so():
    assert "No data yet" in charts.bar_chart([], title="Nothing")
