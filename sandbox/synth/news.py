"""The news feed: synthetic stories about the catalogue's symbols."""

from typing import Any

from sandbox.synth.catalogue import searchable
from sandbox.synth.noise import seed_of, unit

NEWS_EVERY = 420  # seconds between news items, on average
_NEWS_SOURCES = ("Reuters", "Dow Jones", "Benzinga", "MarketWatch", "Zacks", "Barron's")
_NEWS_TEMPLATES = (
    ("{name} shares {move} {pct}% in {session} trading", "medium"),
    ("{name} announces {event}", "high"),
    ("Analysts {verb} price target on {ticker} to ${target}", "medium"),
    ("{ticker} options activity jumps ahead of {event}", "low"),
    ("What to watch in {name} this week", "low"),
)
_NEWS_EVENTS = (
    "quarterly results",
    "a new share buyback",
    "a leadership change",
    "a product launch",
    "a strategic partnership",
    "an investor day",
)


def news(now: float, *, limit: int, code: str | None = None) -> list[dict[str, Any]]:
    """The most recent news items (newest first), one about every NEWS_EVERY seconds."""
    universe = searchable()
    items = []
    slot = int(now) // NEWS_EVERY
    seed = seed_of("news")
    # Bounded scan: a symbol filter matches about one item in six.
    for index in range(slot, slot - 200 * limit, -1):
        published = index * NEWS_EVERY + int(unit(seed, index) * (NEWS_EVERY - 1))
        if published > now:
            continue
        subject = universe[int(unit(seed + 1, index) * len(universe))]
        related = [subject.code]
        if unit(seed + 2, index) < 0.3:
            other = universe[int(unit(seed + 3, index) * len(universe))]
            if other.code != subject.code:
                related.append(other.code)
        if code is not None and code not in related:
            continue
        template, importance = _NEWS_TEMPLATES[
            int(unit(seed + 4, index) * len(_NEWS_TEMPLATES))
        ]
        up = unit(seed + 5, index) < 0.5
        title = template.format(
            name=subject.name,
            ticker=subject.ticker,
            move="rise" if up else "fall",
            pct=f"{0.5 + unit(seed + 6, index) * 6:.1f}",
            session="early" if unit(seed + 7, index) < 0.5 else "late",
            event=_NEWS_EVENTS[int(unit(seed + 8, index) * len(_NEWS_EVENTS))],
            verb="raise" if up else "cut",
            target=round(subject.walk.price * (1.1 if up else 0.9)),
        )
        source = _NEWS_SOURCES[int(unit(seed + 9, index) * len(_NEWS_SOURCES))]
        items.append(
            {
                "id": f"sbx-{index}",
                "title": title,
                "content": f"{title}. (Synthetic sandbox story; not market information.)",
                "source": source,
                "link": f"https://news.sandbox.invalid/{index}",
                "published_at": float(published),
                "related_symbols": related,
                "importance": importance,
            }
        )
        if len(items) >= limit:
            break
    return items
