"""Small server-side SVG charts for the portal: bars and lines with axes and labels.

No JavaScript and nothing fetched: each chart is one inline <svg> that scales with its
container (viewBox), names itself for screen readers (role="img", <title>, <desc>) and
shows each value in a <title> tooltip. Values are plain numbers; `fmt` turns one into
the text shown (e.g. billing.money.format_amount for hundredths of a credit).
"""

import math
from collections.abc import Callable, Sequence
from itertools import count

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

Number = int | float
WIDTH = 640
HEIGHT = 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 12, 12, 30
_LABEL_PX = 56  # room one x-axis label needs
_ids = count(1)


def _plain(value: Number) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def short_decimal(value: Number) -> str:
    """A number with no trailing zeros (up to 3 places): values and axis ticks alike
    read naturally for small decimals such as minutes (1.5, 0.025, 1,234)."""
    return f"{value:,.3f}".rstrip("0").rstrip(".")


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


def _frame(
    *,
    title: str,
    description: str,
    width: int,
    height: int,
    body: list[str],
    css: str,
) -> SafeString:
    n = next(_ids)
    return mark_safe(
        f'<svg class="chart {css}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="chart-t{n} chart-d{n}" preserveAspectRatio="xMidYMid meet" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="chart-t{n}">{escape(title)}</title>'
        f'<desc id="chart-d{n}">{escape(description)}</desc>' + "".join(body) + "</svg>"
    )


def _y_axis(ticks, y_of, fmt, width) -> list[str]:
    parts = []
    for tick in ticks:
        y = y_of(tick)
        parts.append(
            f'<line class="grid" x1="{_LEFT}" x2="{width - _RIGHT}" '
            f'y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{_LEFT - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end">{escape(fmt(tick))}</text>'
        )
    return parts


def _x_labels(labels: Sequence[str], x_of, height: int, plot_width: float) -> list[str]:
    every = max(1, math.ceil(len(labels) / max(1, plot_width // _LABEL_PX)))
    parts = []
    for i, label in enumerate(labels):
        if i % every == 0:
            parts.append(
                f'<text class="tick" x="{x_of(i):.1f}" y="{height - 10}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    return parts


def _summary(points: Sequence[tuple[str, Number]], fmt, unit: str) -> str:
    if not points:
        return "No data."
    values = [v for _, v in points]
    hi = max(range(len(values)), key=values.__getitem__)
    return (
        f"{len(points)} points from {points[0][0]} to {points[-1][0]}; "
        f"highest {fmt(values[hi])}{unit} on {points[hi][0]}; "
        f"last {fmt(values[-1])}{unit}."
    )


class _Plot:
    """What bars and lines share: the value axis scaled to the points, the tooltips,
    the x labels and the frame around the marks."""

    def __init__(self, points, *, unit: str, fmt, width: int, height: int):
        self.points = points
        self.fmt = fmt or _plain
        self.suffix = f" {unit}" if unit else ""
        self.width = width
        self.height = height
        self.values = [v for _, v in points]
        self.integer = all(isinstance(v, int) for v in self.values)
        self.bottom, self.top, self.ticks = _axis(self.values, self.integer)
        self.plot_w = width - _LEFT - _RIGHT
        self.plot_h = height - _TOP - _BOTTOM

    def y_of(self, value: float) -> float:
        return _TOP + self.plot_h * (self.top - value) / (self.top - self.bottom)

    def tooltip(self, label: str, value: Number) -> str:
        return (
            f"<title>{escape(label)}: {escape(self.fmt(value))}"
            f"{escape(self.suffix)}</title>"
        )

    def axis_line(self, y: float) -> str:
        return (
            f'<line class="axis" x1="{_LEFT}" x2="{self.width - _RIGHT}" '
            f'y1="{y:.1f}" y2="{y:.1f}"/>'
        )

    def render(self, *, title: str, css: str, x_of, marks: list[str]) -> SafeString:
        integer = self.integer
        body = _y_axis(
            self.ticks,
            self.y_of,
            lambda t: self.fmt(int(t) if integer else t),
            self.width,
        )
        body += marks
        body += _x_labels(
            [label for label, _ in self.points], x_of, self.height, self.plot_w
        )
        return _frame(
            title=title,
            description=_summary(self.points, self.fmt, self.suffix),
            width=self.width,
            height=self.height,
            body=body,
            css=css,
        )


def bar_chart(
    points: Sequence[tuple[str, Number]],
    *,
    title: str,
    unit: str = "",
    fmt: Callable[[Number], str] | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> SafeString:
    """One bar per (label, value); negative values hang below the zero line."""
    if not points:
        return _empty(title, width, height)
    plot = _Plot(points, unit=unit, fmt=fmt, width=width, height=height)
    slot = plot.plot_w / len(points)

    def x_of(i: int) -> float:
        return _LEFT + slot * (i + 0.5)

    zero = plot.y_of(0)
    bar_w = max(1.0, slot * 0.72)
    marks = []
    for i, (label, value) in enumerate(points):
        y = plot.y_of(value)
        top_y, h = (y, zero - y) if value >= 0 else (zero, y - zero)
        marks.append(
            f'<rect class="bar{" negative" if value < 0 else ""}" '
            f'x="{x_of(i) - bar_w / 2:.1f}" y="{top_y:.1f}" width="{bar_w:.1f}" '
            f'height="{max(h, 0.5):.1f}">{plot.tooltip(label, value)}</rect>'
        )
    marks.append(plot.axis_line(zero))
    return plot.render(title=title, css="bars", x_of=x_of, marks=marks)


def line_chart(
    points: Sequence[tuple[str, Number]],
    *,
    title: str,
    unit: str = "",
    fmt: Callable[[Number], str] | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> SafeString:
    """A line through (label, value) points, with a dot and tooltip at each."""
    if not points:
        return _empty(title, width, height)
    plot = _Plot(points, unit=unit, fmt=fmt, width=width, height=height)
    step = plot.plot_w / max(1, len(points) - 1)

    def x_of(i: int) -> float:
        return _LEFT + (step * i if len(points) > 1 else plot.plot_w / 2)

    path = " ".join(
        f"{'M' if i == 0 else 'L'}{x_of(i):.1f},{plot.y_of(v):.1f}"
        for i, v in enumerate(plot.values)
    )
    marks = [plot.axis_line(plot.y_of(plot.bottom)), f'<path class="line" d="{path}"/>']
    for i, (label, value) in enumerate(points):
        marks.append(
            f'<circle class="dot" cx="{x_of(i):.1f}" cy="{plot.y_of(value):.1f}" '
            f'r="3">{plot.tooltip(label, value)}</circle>'
        )
    return plot.render(title=title, css="lines", x_of=x_of, marks=marks)


def _empty(title: str, width: int, height: int) -> SafeString:
    return _frame(
        title=title,
        description="No data yet.",
        width=width,
        height=height,
        body=[
            f'<text class="empty" x="{width / 2}" y="{height / 2}" '
            'text-anchor="middle">No data yet</text>'
        ],
        css="empty",
    )
