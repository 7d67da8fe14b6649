"""The symbol catalogue: every listed instrument (the table in catalogue.toml), and
lookup by code."""

import functools
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sandbox.synth.sessions import SESSIONS
from sandbox.synth.symbols import FuturesRoot, Symbol, continuous_contract, contract
from sandbox.synth.walk import Walk

# Stocks and ETFs: what a row of the table leaves out.
_STOCK_DEFAULTS: Mapping[str, Any] = {
    "type": "stock",
    "session": "us_equity",
    "currency": "USD",
    "country": "US",
    "tick": 0.01,
    "earnings_months": (1, 4, 7, 10),
}


def _fields(row: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """A table row as the keyword arguments of a Symbol or FuturesRoot."""
    fields = {**defaults, **row, "walk": Walk(*row["walk"])}
    fields["session"] = SESSIONS[fields["session"]]
    for months in ("dividend_months", "earnings_months"):
        if months in fields:
            fields[months] = tuple(fields[months])
    return fields


_TABLE = tomllib.loads(Path(__file__).with_name("catalogue.toml").read_text())
STOCKS = tuple(Symbol(**_fields(row, _STOCK_DEFAULTS)) for row in _TABLE["stock"])
FUTURES_ROOTS: Mapping[str, FuturesRoot] = {
    row["code"]: FuturesRoot(**_fields(row, {})) for row in _TABLE["futures_root"]
}
_OTHERS = tuple(Symbol(**_fields(row, {})) for row in _TABLE["other"])


_FIXED: dict[str, Symbol] = {s.code: s for s in (*STOCKS, *_OTHERS)}
for _root in FUTURES_ROOTS.values():
    _FIXED[f"{_root.code}1!"] = continuous_contract(_root)
_FIXED["CME_MINI:NQH2025"] = contract(FUTURES_ROOTS["CME_MINI:NQ"], "H", 2025)
SYMBOLS: Mapping[str, Symbol] = _FIXED

_CONTRACT_CODE = re.compile(
    r"^(?P<root>[A-Z_]+:[A-Z]+?)(?P<month>[FGHJKMNQUVXZ])(?P<year>\d{4})$"
)


@functools.lru_cache(maxsize=1024)
def lookup(code: str) -> Symbol | None:
    """The symbol for an `EXCHANGE:TICKER` code (any case), including any dated contract
    of a listed futures root (`CME_MINI:ESZ2026`); None when unknown."""
    code = code.strip().upper()
    found = SYMBOLS.get(code)
    if found is not None:
        return found
    match = _CONTRACT_CODE.match(code)
    if match is None:
        return None
    root = FUTURES_ROOTS.get(match["root"])
    year = int(match["year"])
    if root is None or match["month"] not in root.months or not 2000 <= year <= 2100:
        return None
    return contract(root, match["month"], year)


@functools.cache
def searchable() -> tuple[Symbol, ...]:
    return tuple(sorted(SYMBOLS.values(), key=lambda s: s.code))
