"""What the control APIs' settings (`/_sandbox/faults`, `/live`, `/aries`) share:
numbers and integers within bounds, flags, and the injected faults' deadlines (given
as seconds, kept as monotonic deadlines, shown as the seconds left). A bad value
raises 400 INVALID_REQUEST naming the field."""

from collections.abc import Mapping
from typing import Any

from sandbox.state.errors import invalid

__all__ = [
    "DEADLINES",
    "deadlines_json",
    "flag",
    "integer",
    "is_integer_in",
    "number",
    "number_setting",
]

# Shown as seconds left; stored as monotonic deadlines.
DEADLINES = {"refuse_seconds": "refuse_until", "stall_seconds": "stall_until"}
Bounds = tuple[float, float]


def number(field: str, value: Any, low: float, high: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not low <= value <= high
    ):
        raise invalid(field, f"'{field}' must be a number between {low:g} and {high:g}")
    return float(value)


def is_integer_in(value: Any, low: int, high: int) -> bool:
    """An int (a bool is not one) from `low` to `high`."""
    return (
        isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    )


def integer(field: str, value: Any, low: int, high: int) -> int:
    if not is_integer_in(value, low, high):
        raise invalid(field, f"'{field}' must be an integer between {low} and {high}")
    return value


def number_setting(field: str, value: Any, bounds: Bounds, moment: float) -> dict:
    """What the number setting `field` changes: itself, or for a deadline's seconds
    (0: none) the monotonic deadline that far from `moment`."""
    seconds = number(field, value, *bounds)
    if field in DEADLINES:
        return {DEADLINES[field]: moment + seconds if seconds else 0.0}
    return {field: seconds}


def flag(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise invalid(field, f"'{field}' must be true or false")
    return value


def deadlines_json(config: Any, moment: float) -> Mapping[str, float]:
    """The deadlines of `config` as the seconds left after `moment`."""
    return {
        field: round(max(0.0, getattr(config, deadline) - moment), 3)
        for field, deadline in DEADLINES.items()
    }
