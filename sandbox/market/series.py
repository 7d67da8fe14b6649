"""Bar series handlers: `/symbols/{symbol}/series` and `/symbols/{symbol}/history`."""

import datetime as dt
import re
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from sandbox.market.context import NOW_KEY, dumps, hold_long_poll, ms, off_loop
from sandbox.market.params import (
    MAX_DATA_POINTS,
    adjustments,
    check_common,
    data_points,
    invalid,
    not_in_plan,
    param_bool,
    param_choice,
    param_int,
    path_symbol,
    plan_features,
)
from sandbox.synth.bars import BAR_SECONDS, BAR_TYPES
from sandbox.synth.epoch import DAY, day_epoch
from sandbox.synth.series import Series, history, series
from sandbox.synth.symbols import Symbol

MAX_BAR_INTERVAL = 1_000
# Requests for more bars than this are computed off the event loop.
HEAVY_BARS = 2_000
SERIES_KEYS = ("time", "open", "high", "low", "close", "volume")


def _series_body(symbol: Symbol, result: Series, now: float, abbr: bool) -> bytes:
    head: dict[str, Any] = {
        "code": symbol.code,
        # The endpoint reference names it `symbol`; observed answers carry `code`.
        "symbol": symbol.code,
        "bar_type": result.bar_type,
        "bar_end": float(result.bar_end) if result.bar_end is not None else None,
        "last_update": ms(now),
    }
    if abbr:
        head["series_keys"] = list(SERIES_KEYS)
        rows = ",".join(
            f"[{t!r},{o!r},{h!r},{lo!r},{c!r},{v!r}]"
            for t, o, h, lo, c, v in result.bars
        )
    else:
        rows = ",".join(
            f'{{"time":{t!r},"open":{o!r},"high":{h!r},"low":{lo!r},'
            f'"close":{c!r},"volume":{v!r}}}'
            for t, o, h, lo, c, v in result.bars
        )
    return dumps(head)[:-1] + b',"series":[' + rows.encode() + b"]}"


def _bar_options(query: MultiMapping[str]) -> dict[str, bool]:
    """`extended`, `dadj` and `backadjust` (or `badj`), as both endpoints take them."""
    extended = param_bool(query, "extended", True)
    dadj, backadjust = adjustments(query)
    return {"extended": extended, "dadj": dadj, "backadjust": backadjust}


def _next_bar(bar_type: str, interval: int, now: float) -> float:
    """When the bar in progress at `now` ends, or `now` + a day for longer bars."""
    if bar_type == "tick":
        return int(now) + 1
    size = BAR_SECONDS.get(bar_type)
    if size is None:
        return now + DAY
    size *= interval
    return (int(now) // size + 1) * size


async def get_series(request: web.Request) -> bytes:
    symbol = path_symbol(request)
    query = request.query
    features = plan_features(request)
    bar_type = param_choice(query, "bar_type", BAR_TYPES)
    interval = param_int(query, "bar_interval", default=1, low=1, high=MAX_BAR_INTERVAL)
    count = data_points(query, features.data_points)
    options = _bar_options(query)
    settlement = param_bool(query, "settlement", False)
    abbr = param_bool(query, "abbr", False)
    long_poll = param_bool(query, "long_poll", False)
    check_common(query)
    if bar_type == "tick" and not features.tick:
        raise not_in_plan("tick data", lambda f: f.tick)
    if long_poll:
        await hold_long_poll(request, _next_bar(bar_type, interval, request[NOW_KEY]))
    now = request[NOW_KEY]
    result = await off_loop(
        count > HEAVY_BARS,
        series,
        symbol,
        bar_type=bar_type,
        interval=interval,
        count=count,
        now=int(now),
        settlement=settlement,
        **options,
    )
    return _series_body(symbol, result, now, abbr)


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _history_start(raw: str | None, bar_type: str) -> tuple[dt.date, dt.date]:
    """The period `start_date` names: a UTC day for second bars, else a month."""
    if not raw:
        raise invalid("start_date", "'start_date' is required")
    raw = raw.strip()
    try:
        month = _MONTH.match(raw)
        if month and bar_type != "second":
            start = dt.date(int(month[1]), int(month[2]), 1)
        else:
            start = dt.date.fromisoformat(raw)
    except ValueError:
        start = None
    if start is None:
        shape = "YYYY-MM-DD" if bar_type == "second" else "YYYY-MM"
        raise invalid("start_date", f"'start_date' must look like {shape}")
    if bar_type == "second":
        return start, start + dt.timedelta(days=1)
    year, number = divmod(start.month, 12)
    return start, dt.date(start.year + year, number + 1, 1)


async def get_history(request: web.Request) -> bytes:
    symbol = path_symbol(request)
    features = plan_features(request)
    if not features.deep_history:
        raise not_in_plan("deep history", lambda f: f.deep_history)
    query = request.query
    bar_type = param_choice(query, "bar_type", ("second", "minute", "hour"))
    interval = param_int(query, "bar_interval", default=1, low=1, high=MAX_BAR_INTERVAL)
    start, end = _history_start(query.get("start_date"), bar_type)
    options = _bar_options(query)
    param_bool(query, "settlement", False)
    abbr = param_bool(query, "abbr", False)
    now = request[NOW_KEY]
    start_epoch = day_epoch(start)
    if start_epoch > now:
        raise invalid("start_date", "'start_date' is in the future")
    result = await off_loop(
        True,
        history,
        symbol,
        bar_type=bar_type,
        interval=interval,
        start=start_epoch,
        end=day_epoch(end),
        now=int(now),
        limit=MAX_DATA_POINTS,
        **options,
    )
    return _series_body(symbol, result, now, abbr)
