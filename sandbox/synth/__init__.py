"""Synthetic market data for the sandbox's InsightSentry APIs: pure functions of
(symbol, parameters, `now`), with no I/O, clock reads or shared random state. `noise`
and `walk` make the deterministic price walk, `epoch` the time units, `sessions` the
trading hours and holidays; `symbols` says what an instrument is and `catalogue` lists
them; `prices` prices one at any instant; `bars`, `intraday`, `daily`, `ticks` and
`series` build bars; `quotes`, `reference`, `fundamentals`, `news`, `documents`,
`calendars`, `screeners` and `options` answer the endpoints of the same names.
"""
