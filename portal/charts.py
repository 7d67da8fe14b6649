"""Small server-side charts for the portal: bars and lines with axes and labels.

No JavaScript and nothing fetched. The marks are one inline <svg> stretched over the
plot area (its strokes keep their width at any size); the axis labels are HTML text
beside and below it, so they are the same size in every card and never scale with the
chart. Each x label says at which chart widths it is shown (a container query picks
them), so narrow charts show fewer dates and none collide. Every point or bar carries a
<title> tooltip with its exact value; the chart names itself for screen readers
(role="img", a title and a summary). Values are plain numbers; `fmt` turns one into the
text shown (e.g. portal.display.amount for hundredths of a credit).
"""

import functools
import math
from collections.abc import Callable, Sequence
from itertools import count

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from portal import display

Number = int | float
# The svg's own coordinates: stretched to the plot area (preserveAspectRatio="none").
_W, _H = 1000, 100
# Chart widths (CSS px, the container query's breakpoints in portal.css) and, for each,
# the narrowest plot it has: the chart less the y labels' gutter.
WIDTHS = (("xs", 0, 280), ("sm", 420, 420), ("md", 700, 700), ("lg", 1000, 1000))
_CHAR_PX = 7.2  # one character of a tick label (.75rem of 15px, tabular digits)
_GAP_PX = 14  # space kept between two x labels
_ids = count(1)


def _plain(value: Number) -> str:
    return display.count(value) if float(value).is_integer() else display.decimal(value)


def nice_step(span: float, ticks: int = 4) -> float:
    """A round step (1, 2, 2.5 or 5 × 10^k) giving about `ticks` intervals over span."""
    if span <= 0:
        return 1
    raw = span / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= mult * magnitude:
            return mult * magnitude
    return 10 * magnitude


def _axis(values: Sequence[Number], integer: bool) -> tuple[float, float, list[float]]:
    low = min(0, min(values))
    high = max(0, max(values))
    if high == low:
        high = low + (1 if integer else 1.0)
    step = nice_step(high - low)
    if integer:
        step = max(1, round(step))
    bottom = math.floor(low / step) * step
    top = math.ceil(high / step) * step
    ticks = []
    tick = bottom
    while tick <= top + step / 1000:
        ticks.append(tick)
        tick += step
    return bottom, top, ticks


def label_widths(
    labels: Sequence[str], *, gutter_px: float, intervals: int
) -> list[list[str]]:
    """For each x label, the chart widths (WIDTHS' names) at which it is shown: every
    k-th label, k the smallest keeping the labels `_GAP_PX` apart on the narrowest plot
    of that width. `intervals`: plot widths per label step (points − 1 for a line,
    points for bars)."""
    label_px = max((len(label) for label in labels), default=0) * _CHAR_PX + _GAP_PX
    shown: list[list[str]] = [[] for _ in labels]
    for name, _, chart_px in WIDTHS:
        plot_px = max(1.0, chart_px - gutter_px)
        every = max(1, math.ceil(label_px * max(1, intervals) / plot_px))
        for i in range(0, len(labels), every):
            shown[i].append(name)
    return shown


def _summary(points: Sequence[tuple[str, Number]], fmt, suffix: str) -> str:
    values = [v for _, v in points]
    hi = max(range(len(values)), key=values.__getitem__)
    return (
        f"{len(points)} points from {points[0][0]} to {points[-1][0]}; "
        f"highest {fmt(values[hi])}{suffix} on {points[hi][0]}; "
        f"last {fmt(values[-1])}{suffix}."
    )


class _Plot:
    """What bars and lines share: the value axis scaled to the points, the tooltips,
    the labels and the frame around the marks."""

    def __init__(self, points, *, unit: str, fmt):
        self.points = points
        self.fmt = fmt or _plain
        self.suffix = f" {unit}" if unit else ""
        self.values = [v for _, v in points]
        integer = all(isinstance(v, int) for v in self.values)
        self.bottom, self.top, ticks = _axis(self.values, integer)
        self.ticks = [(t, self.fmt(int(t) if integer else t)) for t in ticks]

    def y_of(self, value: float) -> float:
        """Height in the svg's units (0 at the top, _H at the bottom)."""
        return _H * (self.top - value) / (self.top - self.bottom)

    def tooltip(self, label: str, value: Number) -> str:
        return (
            f"<title>{escape(label)}: {escape(self.fmt(value))}"
            f"{escape(self.suffix)}</title>"
        )

    def render(self, *, title: str, css: str, x_of, marks: list[str]) -> SafeString:
        """`x_of(i)`: where point i sits across the plot, 0 to 1."""
        n = next(_ids)
        y_chars = max(len(text) for _, text in self.ticks)
        labels = [label for label, _ in self.points]
        shown = label_widths(
            labels,
            gutter_px=y_chars * _CHAR_PX + 8,
            intervals=len(labels) if css == "bars" else len(labels) - 1,
        )
        grid = "".join(
            f'<line class="grid" x1="0" x2="{_W}" y1="{self.y_of(t):.2f}" '
            f'y2="{self.y_of(t):.2f}"/>'
            for t, _ in self.ticks
        )
        y_labels = "".join(
            f'<span class="tick" style="top:{self.y_of(t):.2f}%">{escape(text)}</span>'
            for t, text in self.ticks
        )
        x_labels = "".join(
            f'<span class="tick {" ".join(f"at-{w}" for w in widths)}" '
            f'style="left:{100 * x_of(i):.2f}%">{escape(label)}</span>'
            for i, (label, widths) in enumerate(zip(labels, shown, strict=True))
            if widths
        )
        return mark_safe(
            f'<div class="chart {css}" role="img" '
            f'aria-labelledby="chart-t{n} chart-d{n}" style="--y-chars:{y_chars}">'
            f'<span class="visually-hidden" id="chart-t{n}">{escape(title)}</span>'
            f'<span class="visually-hidden" id="chart-d{n}">'
            f"{escape(_summary(self.points, self.fmt, self.suffix))}</span>"
            f'<div class="chart-y">{y_labels}</div>'
            f'<div class="chart-plot"><svg viewBox="0 0 {_W} {_H}" '
            'preserveAspectRatio="none" focusable="false" '
            f'xmlns="http://www.w3.org/2000/svg">{grid}{"".join(marks)}</svg></div>'
            f'<div class="chart-x">{x_labels}</div></div>'
        )

    def hit(self, i: int, left: float, right: float) -> str:
        """The column of point i, from `left` to `right`: hovering it anywhere shows
        its value."""
        label, value = self.points[i]
        return (
            f'<rect class="hit" x="{left:.2f}" y="0" width="{right - left:.2f}" '
            f'height="{_H}">{self.tooltip(label, value)}</rect>'
        )


def _empty(empty: str) -> SafeString:
    return mark_safe(f'<p class="chart-empty">{escape(empty)}</p>')


def _chart(draw: Callable[[_Plot, str], SafeString]):
    """A chart of (label, value) points: `draw(plot, title)` renders them, scaled by
    `_Plot`. No points, or only zeros: `empty` in place of the chart."""

    @functools.wraps(draw)
    def chart(
        points: Sequence[tuple[str, Number]],
        *,
        title: str,
        unit: str = "",
        fmt: Callable[[Number], str] | None = None,
        empty: str = "No data yet.",
    ) -> SafeString:
        if not any(v for _, v in points):
            return _empty(empty)
        return draw(_Plot(points, unit=unit, fmt=fmt), title)

    return chart


@_chart
def bar_chart(plot: _Plot, title: str) -> SafeString:
    """One bar per (label, value); negative values hang below the zero line."""
    points = plot.points
    slot = _W / len(points)
    zero = plot.y_of(0)
    marks = []
    for i, (_, value) in enumerate(points):
        y = plot.y_of(value)
        top_y, h = (y, zero - y) if value >= 0 else (zero, y - zero)
        marks.append(
            f'<g class="point"><rect class="bar{" negative" if value < 0 else ""}" '
            f'x="{slot * (i + 0.14):.2f}" y="{top_y:.2f}" width="{slot * 0.72:.2f}" '
            f'height="{max(h, 0.4):.2f}"/>{plot.hit(i, slot * i, slot * (i + 1))}</g>'
        )
    marks.append(
        f'<line class="axis" x1="0" x2="{_W}" y1="{zero:.2f}" y2="{zero:.2f}"/>'
    )
    return plot.render(
        title=title, css="bars", x_of=lambda i: (i + 0.5) / len(points), marks=marks
    )


@_chart
def line_chart(plot: _Plot, title: str) -> SafeString:
    """A line through (label, value) points, with a dot and a tooltip at each."""
    points = plot.points
    last = max(1, len(points) - 1)

    def x_of(i: int) -> float:
        return i / last if len(points) > 1 else 0.5

    path = " ".join(
        f"{'M' if i == 0 else 'L'}{_W * x_of(i):.2f},{plot.y_of(v):.2f}"
        for i, v in enumerate(plot.values)
    )
    marks = [
        f'<line class="axis" x1="0" x2="{_W}" y1="{_H}" y2="{_H}"/>',
        f'<path class="line" d="{path}"/>',
    ]
    column = _W / len(points)
    for i, value in enumerate(plot.values):
        x = _W * x_of(i)
        # A zero-length stroke with round caps: a dot that stays round when the svg
        # is stretched.
        marks.append(
            f'<g class="point"><path class="dot" d="M{x:.2f},{plot.y_of(value):.2f}h0"/>'
            f"{plot.hit(i, max(0.0, x - column / 2), min(x + column / 2, _W))}</g>"
        )
    return plot.render(title=title, css="lines", x_of=x_of, marks=marks)
