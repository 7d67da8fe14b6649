"""Screeners: one row per symbol of a type, from its quote."""

from typing import Any

from sandbox.synth.catalogue import searchable
from sandbox.synth.quotes import quote

SCREENERS = ("stock", "etf", "bond", "crypto")


def screener(kind: str, now: float, *, delay: int) -> list[dict[str, Any]]:
    rows = []
    for symbol in searchable():
        if symbol.type != kind:
            continue
        q = quote(symbol, now, delay=delay)
        row = {
            "code": symbol.code,
            "name": symbol.name,
            "exchange": symbol.exchange,
            "currency_code": symbol.currency,
            "last_price": q["last_price"],
            "change": q["change"],
            "change_percent": q["change_percent"],
            "volume": q["volume"],
            "status": q["status"],
        }
        if symbol.shares:
            row["market_cap"] = q["market_cap"]
        if symbol.sector:
            row["sector"] = symbol.sector
        if symbol.dividend_yield:
            row["dividend_yield"] = round(symbol.dividend_yield * 100, 2)
        rows.append(row)
    return rows
