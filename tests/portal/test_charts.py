"""The charts: axes that start at zero on round steps, a tooltip per value, text
escaped, an accessible name, x labels that fit each width, an empty state."""

import re

from portal import charts, display


def test_nice_steps_are_round():
    assert charts.nice_step(100) == 25
    assert charts.nice_step(7) == 2
    assert charts.nice_step(1_000_000) == 250_000
    assert charts.nice_step(0) == 1


def test_bar_chart_has_a_bar_and_tooltip_per_point_and_escapes_labels():
    html = charts.bar_chart(
        [("<a>", 3), ("b", 0), ("c", 12)], title="Requests & more", unit="requests"
    )
    assert html.count('<rect class="bar') == 3
    assert "<title>&lt;a&gt;: 3 requests</title>" in html
    assert 'role="img"' in html and "Requests &amp; more" in html
    y_ticks = re.findall(r'<span class="tick" style="top:[^"]+">([^<]+)<', html)
    x_ticks = re.findall(
        r'<span class="tick at-[^"]+" style="left:[^"]+">([^<]+)<', html
    )
    # y axis from zero in round steps; every x label fits at every width
    assert y_ticks == ["0", "5", "10", "15"]
    assert x_ticks == ["&lt;a&gt;", "b", "c"]
    assert "highest 12 requests on c" in html


def test_line_chart_formats_values_and_handles_negatives():
    html = charts.line_chart(
        [("d1", 150_000), ("d2", -2_500)], title="Balance", fmt=display.amount
    )
    assert html.count('<path class="dot"') == 2
    assert "<title>d1: 1,500.00</title>" in html and "<title>d2: −25.00</title>" in html
    # the axis reaches below zero to show the negative point; labels are grouped
    assert re.search(r">−\d+\.\d\d<", html) and ">1,500.00<" in html


def test_narrow_charts_label_fewer_days():
    labels = [f"11-{day:02d}" for day in range(1, 31)]
    shown = charts.label_widths(labels, gutter_px=60, intervals=len(labels))
    per_width = {
        name: sum(name in widths for widths in shown) for name, _, _ in charts.WIDTHS
    }
    assert per_width["xs"] < per_width["sm"] < per_width["md"] <= per_width["lg"]
    assert per_width["lg"] <= 30 and per_width["xs"] >= 3


def test_an_empty_or_all_zero_chart_says_so():
    assert "No data yet." in charts.bar_chart([], title="Nothing")
    flat = charts.line_chart([("a", 0), ("b", 0)], title="Flat", empty="No history.")
    assert "No history." in flat and "<svg" not in flat
