"""Subscriptions of the accounts WebSocket: what subscribing to each topic takes and
answers (`subscribe`), unsubscribing, and what a subscription is due as time passes
(live P&L candles, synth's news). `sandbox.aries.hub` sends it.

A connection holds one subscription per key: ("account", id), ("pnl", id, interval),
("watchlist",), ("news",). Subscribing again to a key replaces it (a new snapshot,
new filters); unsubscribing `pnl` without an interval ends every interval of the
account.
"""

from typing import Any

from sandbox.aries import protocol
from sandbox.aries.accounts import Account
from sandbox.aries.book import AriesBook
from sandbox.aries.news import NewsFilter, synth_items
from sandbox.aries.pnl import current, series
from sandbox.aries.protocol import Refusal

__all__ = ["Sub", "live_candle", "subscribe", "synth_news_due", "unsubscribe"]


class Sub:
    """One subscription of a connection."""

    __slots__ = (
        "account_id",
        "interval",
        "last",
        "news",
        "news_mark",
        "params",
        "start",
        "topic",
    )

    def __init__(self, topic: str, params: dict[str, Any]) -> None:
        self.topic = topic
        self.params = params
        self.account_id: str | None = None
        self.interval = ""
        self.start = 0.0
        self.last: tuple[int, str] | None = None  # the pnl candle sent last
        self.news: NewsFilter | None = None
        self.news_mark = 0.0  # synth stories published up to then were looked at


def _owned(book: AriesBook, user_id: str, account_id: str) -> Account:
    account = book.accounts.get(account_id)
    if account is None or account.user_id != user_id:
        raise Refusal(403, "ACCESS_DENIED", f"access denied to account {account_id}")
    return account


def subscribe(
    book: AriesBook, user_id: str, payload: Any, now: float
) -> tuple[tuple, Sub, Any]:
    """A subscription's key, itself and the data its `subscribed` reply carries (None
    for watchlist and news); raises `Refusal` for the error response."""
    topic, params, extra = protocol.parse_subscription(payload)
    sub = Sub(topic, params)
    data: Any = None
    if topic == "account":
        account = _owned(book, user_id, extra)
        sub.account_id = account.id
        key: tuple = ("account", account.id)
        data = book.snapshot(account)
    elif topic == "pnl":
        account = _owned(book, user_id, extra)
        start, interval = protocol.parse_pnl(params)
        sub.account_id, sub.start, sub.interval = account.id, start, interval
        sub.params = {
            "accountId": account.id,
            "interval": interval,
            "startTime": params["startTime"],
        }
        key = ("pnl", account.id, interval)
        starts, closes = series(account, interval, start, now, book.prices.at)
        if starts:
            sub.last = (starts[-1], closes[-1])
        data = {
            "accountId": account.id,
            "interval": interval,
            "t": starts,
            "c": closes,
        }
    elif topic == "news":
        sub.news = extra
        sub.news_mark = now
        key = ("news",)
    else:
        key = ("watchlist",)
    return key, sub, data


def unsubscribe(subs: dict[tuple, Sub], payload: Any) -> dict[str, Any]:
    """End the subscriptions an unsubscribe names; the response's data."""
    if not isinstance(payload, dict):
        payload = {}
    topic = payload.get("topic")
    if topic not in protocol.TOPICS:
        raise Refusal(400, "UNKNOWN_TOPIC", f"unknown subscription topic: {topic}")
    params = payload.get("params")
    if not isinstance(params, dict):
        params = {}
    data: dict[str, Any] = {"unsubscribed": False, "topic": topic}
    if topic in ("account", "pnl"):
        account_id = params.get("accountId")
        if not isinstance(account_id, str) or not account_id:
            raise Refusal(400, "MISSING_ACCOUNT_ID", "accountId is required")
        data["accountId"] = account_id
        interval = params.get("interval")
        keys = [
            key
            for key in subs
            if key[0] == topic
            and key[1] == account_id
            and (topic == "account" or interval is None or key[2] == interval)
        ]
    else:
        keys = [(topic,)] if (topic,) in subs else []
    for key in keys:
        del subs[key]
    data["unsubscribed"] = bool(keys)
    return data


def live_candle(book: AriesBook, sub: Sub, now: float) -> dict[str, Any] | None:
    """The `pnl` event data due to a subscription: the candle in progress, when it
    changed or began since the last one sent; None when nothing is due."""
    if sub.topic != "pnl" or now < sub.start or sub.account_id is None:
        return None
    account = book.accounts[sub.account_id]
    candle = current(account, sub.interval, now, book.prices.at)
    if candle == sub.last:
        return None
    sub.last = candle
    return {
        "accountId": account.id,
        "interval": sub.interval,
        "t": [candle[0]],
        "c": [candle[1]],
    }


def synth_news_due(
    subs: list[Sub], now: float, enabled: bool
) -> dict[int, list[dict[str, Any]]]:
    """Synth's stories due to each news subscription (by `id(sub)`) since it last
    looked; every subscription has looked up to `now` afterwards."""
    if not subs:
        return {}
    # A clock set back (tests) starts a subscription's news over from then.
    for sub in subs:
        sub.news_mark = min(sub.news_mark, now)
    found = synth_items(min(sub.news_mark for sub in subs), now)
    due = {}
    for sub in subs:
        if enabled and sub.news is not None:
            due[id(sub)] = [
                item
                for published, item in found
                if published > sub.news_mark and sub.news.matches(item)
            ]
        sub.news_mark = now
    return due
