"""The one clock of the project. Tests and the sandbox's control API can set it; all
business code asks `now()` instead of `timezone.now()` so time-based rules are testable."""

import datetime as dt
import threading

_lock = threading.Lock()
_frozen: dt.datetime | None = None
_offset = dt.timedelta(0)


def now() -> dt.datetime:
    if _frozen is not None:
        return _frozen
    return dt.datetime.now(dt.UTC) + _offset


def freeze(at: dt.datetime) -> None:
    global _frozen
    if at.tzinfo is None:
        raise ValueError("the clock only takes timezone-aware datetimes")
    with _lock:
        _frozen = at


def advance(delta: dt.timedelta) -> None:
    global _frozen, _offset
    with _lock:
        if _frozen is not None:
            _frozen = _frozen + delta
        else:
            _offset = _offset + delta


def reset() -> None:
    global _frozen, _offset
    with _lock:
        _frozen = None
        _offset = dt.timedelta(0)


def iso(value: dt.datetime | None) -> str | None:
    """A time as the API and webhooks show it: UTC, milliseconds, `Z`
    (2026-03-01T12:00:00.000Z); None stays None."""
    if value is None:
        return None
    return (
        value.astimezone(dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def iso_exact(value: dt.datetime) -> str:
    """A time to the microsecond (left out when zero), UTC with `Z`: stored dedupe keys
    and audit values are built from it, so its format must not change."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
