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
    fmt = fmt or _plain
    suffix = f" {unit}" if unit else ""
    if not points:
        return _empty(title, width, height)
    values = [v for _, v in points]
    integer = all(isinstance(v, int) for v in values)
    bottom, top, ticks = _axis(values, integer)
    plot_w = width - _LEFT - _RIGHT
    plot_h = height - _TOP - _BOTTOM
    slot = plot_w / len(points)

    def y_of(value: float) -> float:
        return _TOP + plot_h * (top - value) / (top - bottom)

    def x_of(i: int) -> float:
        return _LEFT + slot * (i + 0.5)

    zero = y_of(0)
    body = _y_axis(ticks, y_of, lambda t: fmt(int(t) if integer else t), width)
    bar_w = max(1.0, slot * 0.72)
    for i, (label, value) in enumerate(points):
        y = y_of(value)
        top_y, h = (y, zero - y) if value >= 0 else (zero, y - zero)
        body.append(
            f'<rect class="bar{" negative" if value < 0 else ""}" '
            f'x="{x_of(i) - bar_w / 2:.1f}" y="{top_y:.1f}" width="{bar_w:.1f}" '
            f'height="{max(h, 0.5):.1f}"><title>{escape(label)}: '
            f"{escape(fmt(value))}{escape(suffix)}</title></rect>"
        )
    body.append(
        f'<line class="axis" x1="{_LEFT}" x2="{width - _RIGHT}" '
        f'y1="{zero:.1f}" y2="{zero:.1f}"/>'
    )
    body += _x_labels([label for label, _ in points], x_of, height, plot_w)
    return _frame(
        title=title,
        description=_summary(points, fmt, suffix),
        width=width,
        height=height,
        body=body,
        css="bars",
    )


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
    fmt = fmt or _plain
    suffix = f" {unit}" if unit else ""
    if not points:
        return _empty(title, width, height)
    values = [v for _, v in points]
    integer = all(isinstance(v, int) for v in values)
    bottom, top, ticks = _axis(values, integer)
    plot_w = width - _LEFT - _RIGHT
    plot_h = height - _TOP - _BOTTOM
    step = plot_w / max(1, len(points) - 1)

    def y_of(value: float) -> float:
        return _TOP + plot_h * (top - value) / (top - bottom)

    def x_of(i: int) -> float:
        return _LEFT + (step * i if len(points) > 1 else plot_w / 2)

    body = _y_axis(ticks, y_of, lambda t: fmt(int(t) if integer else t), width)
    body.append(
        f'<line class="axis" x1="{_LEFT}" x2="{width - _RIGHT}" '
        f'y1="{y_of(bottom):.1f}" y2="{y_of(bottom):.1f}"/>'
    )
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{x_of(i):.1f},{y_of(v):.1f}"
        for i, v in enumerate(values)
    )
    body.append(f'<path class="line" d="{path}"/>')
    for i, (label, value) in enumerate(points):
        body.append(
            f'<circle class="dot" cx="{x_of(i):.1f}" cy="{y_of(value):.1f}" r="3">'
            f"<title>{escape(label)}: {escape(fmt(value))}{escape(suffix)}</title>"
            "</circle>"
        )
    body += _x_labels([label for label, _ in points], x_of, height, plot_w)
    return _frame(
        title=title,
        description=_summary(points, fmt, suffix),
        width=width,
        height=height,
        body=body,
        css="lines",
    )


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
