"""News on the `news` topic: items as Aries shows them, the subscription filters, and
the items derived from `sandbox.synth`'s stories (the same stories the market data
news feed carries), besides those the control API publishes.

An item matches a subscription when it mentions one of its `symbols` (tickers; an
"EXCHANGE:TICKER" code counts as its ticker) and has one of its `topics`; an absent
or empty filter matches everything.
"""

import dataclasses
from collections.abc import Iterable
from typing import Any

from sandbox.aries.accounts import timestamp
from sandbox.aries.prices import ticker_of, tradable
from sandbox.synth.news import news

__all__ = [
    "MAX_FILTER_ITEMS",
    "NewsFilter",
    "from_synth",
    "news_item",
    "synth_items",
]

MAX_FILTER_ITEMS = 100
# Synth stories looked at per poll; a poll runs every second or so and synth
# publishes one story every few minutes.
RECENT_STORIES = 10


def news_item(
    item_id: str,
    *,
    headline: str,
    summary: str,
    source: str,
    published_at: float,
    symbols: Iterable[str],
    topics: Iterable[str],
) -> dict[str, Any]:
    return {
        "id": item_id,
        "headline": headline,
        "summary": summary,
        "source": source,
        "publishedAt": timestamp(published_at),
        "symbols": [ticker_of(symbol) for symbol in symbols],
        "topics": [topic.strip().lower() for topic in topics],
    }


def _topics(title: str) -> list[str]:
    lowered = title.lower()
    if "quarterly results" in lowered:
        return ["earnings"]
    if "price target" in lowered:
        return ["analyst-ratings"]
    if "options activity" in lowered:
        return ["options"]
    return ["markets"]


def from_synth(story: dict[str, Any]) -> dict[str, Any] | None:
    """The Aries item of a synth story; None when it mentions no equity the brokerage
    trades (futures, crypto, forex and bond stories are not its news)."""
    symbols = [s for s in story["related_symbols"] if tradable(s) is not None]
    if not symbols:
        return None
    return news_item(
        f"synth-{story['id']}",
        headline=story["title"],
        summary=story["content"],
        source=story["source"],
        published_at=story["published_at"],
        symbols=symbols,
        topics=_topics(story["title"]),
    )


def synth_items(after: float, now: float) -> list[tuple[float, dict[str, Any]]]:
    """Synth's stories published after `after` up to `now` (at most the
    RECENT_STORIES newest), oldest first, with their publication times."""
    stories = news(now, limit=RECENT_STORIES)
    stories.reverse()
    found = []
    for story in stories:
        if story["published_at"] <= after:
            continue
        item = from_synth(story)
        if item is not None:
            found.append((story["published_at"], item))
    return found


@dataclasses.dataclass(frozen=True, slots=True)
class NewsFilter:
    symbols: frozenset[str]
    topics: frozenset[str]

    @classmethod
    def of(cls, symbols: Iterable[str], topics: Iterable[str]) -> "NewsFilter":
        return cls(
            frozenset(ticker_of(s) for s in symbols),
            frozenset(t.strip().lower() for t in topics),
        )

    def matches(self, item: dict[str, Any]) -> bool:
        if self.symbols and not self.symbols.intersection(item["symbols"]):
            return False
        return not self.topics or bool(self.topics.intersection(item["topics"]))

    def as_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.symbols:
            params["symbols"] = sorted(self.symbols)
        if self.topics:
            params["topics"] = sorted(self.topics)
        return params
