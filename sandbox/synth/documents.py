"""Company documents: earnings call transcripts, filings and shareholder reports."""

import datetime as dt
from typing import Any

from sandbox.synth.epoch import day_epoch
from sandbox.synth.fundamentals import quarter_ends
from sandbox.synth.symbols import Symbol

DOCUMENT_TYPES = ("transcript", "sec_filing", "report")


def documents(
    symbol: Symbol, now: float, *, type_: str | None, limit: int
) -> list[dict[str, Any]]:
    if symbol.type not in ("stock", "etf"):
        return []
    found = []
    for end in quarter_ends(now, 8, annual=False):
        label = f"Q{(end.month - 1) // 3 + 1} {end.year}"
        published = day_epoch(end + dt.timedelta(days=30))
        kinds = {
            "transcript": f"{symbol.name} {label} earnings call transcript",
            "sec_filing": f"{symbol.name} Form {'10-K' if end.month == 12 else '10-Q'} ({label})",
            "report": f"{symbol.name} {label} shareholder report",
        }
        for kind, title in kinds.items():
            if symbol.type == "etf" and kind != "report":
                continue
            if type_ is not None and kind != type_:
                continue
            found.append(
                {
                    "id": f"{symbol.ticker.lower()}-{kind}-{end:%Y%m%d}",
                    "code": symbol.code,
                    "type": kind,
                    "title": title,
                    "period": label,
                    "published_at": float(published),
                    "url": f"https://documents.sandbox.invalid/{symbol.ticker}/{kind}/{end:%Y%m%d}",
                }
            )
    found.sort(key=lambda doc: doc["published_at"], reverse=True)
    return found[:limit]
