"""A member's account streams in this process: the member's brokerage link (which
accounts they may see), the one upstream session that serves all of their client
connections, and who subscribed to what.

Subscriptions are reference-counted per key (marketdata-free: `protocol.Subscription
.key`): the first subscriber of a key subscribes upstream, every later one too (so it
gets its own snapshot; upstream keeps one subscription per key and connection), the
last one leaving unsubscribes. Upstream's replies go back to the client that asked,
under the client's own request id. Every account and P&L event is checked against the
member's linked accounts before it is routed, whatever was subscribed.
"""

import asyncio
import re
from typing import TYPE_CHECKING

from accountstream import protocol
from accountstream.client import AccountClient
from accountstream.upstream import Session
from marketdata.live.outbox import text_frame
from orgportal.metrics import ACCOUNT_DENIED, ACCOUNT_EVENTS

if TYPE_CHECKING:
    from accountstream.links import Link

_ID = re.compile(r'"id"\s*:\s*("(?:[^"\\]|\\.)*")')


def with_id(text: str, old: str, new: str | None) -> str:
    """Upstream's reply text with the gateway's request id `old` replaced by the
    client's `new`, leaving every other byte as upstream sent it."""
    target = protocol.dumps(old)
    for match in _ID.finditer(text):
        if match.group(1) == target:
            start, end = match.span(1)
            return text[:start] + protocol.dumps(new) + text[end:]
    return text


class MemberStreams:
    def __init__(self, member_id: int, link: "Link") -> None:
        self.member_id = member_id
        self.link = link
        self.clients: set[AccountClient] = set()
        self.subscribers: dict[tuple, dict[AccountClient, str | None]] = {}
        self.pending: dict[str, tuple[AccountClient, str | None, tuple]] = {}
        self.session: Session | None = None
        self.teardown: asyncio.TimerHandle | None = None

    # --- clients ------------------------------------------------------------------------

    def subscribe(
        self, client: AccountClient, sub: protocol.Subscription, ident: str | None
    ) -> None:
        key = sub.key
        client.subscriptions[key] = (sub, ident)
        self.subscribers.setdefault(key, {})[client] = ident
        if sub.topic == "news":
            # One upstream subscription to all news; each client's filter applies here.
            if len(self.subscribers[key]) > 1:
                self._news_ack(client, sub, ident)
                return
            payload = {"topic": "news"}
        else:
            payload = {"topic": sub.topic, "params": sub.params}
        gateway_id = self.session.next_id()
        self.pending[gateway_id] = (client, ident, key)
        self.session.subscribe(key, payload, gateway_id)

    def unsubscribe(self, client: AccountClient, key: tuple) -> None:
        client.subscriptions.pop(key, None)
        group = self.subscribers.get(key)
        if group is None:
            return
        group.pop(client, None)
        if not group:
            del self.subscribers[key]
            if self.session is not None:
                self.session.unsubscribe(key)

    def leave(self, client: AccountClient) -> None:
        for key in list(client.subscriptions):
            self.unsubscribe(client, key)
        for ident, (waiting, _, _) in list(self.pending.items()):
            if waiting is client:
                del self.pending[ident]
        self.clients.discard(client)

    def relink(self, link: "Link") -> list[tuple[AccountClient, str | None, str]]:
        """The link changed: subscriptions of accounts no longer linked end; what
        ended, for telling the clients."""
        self.link = link
        ended = []
        for key in list(self.subscribers):
            account = key[1] if key[0] in protocol.ACCOUNT_TOPICS else None
            if account is not None and account not in link.account_ids:
                for client, ident in list(self.subscribers[key].items()):
                    self.unsubscribe(client, key)
                    ended.append((client, ident, account))
        return ended

    # --- from upstream (Session callbacks) ----------------------------------------------

    def deliver(self, key: tuple, text: str, message: dict, raw: bytes) -> None:
        if key[0] == "snapshot":
            self._snapshot(key[1:], text, message)
            return
        group = self.subscribers.get(key)
        if not group:
            return
        if key[0] in protocol.ACCOUNT_TOPICS and key[1] not in self.link.account_ids:
            ACCOUNT_DENIED.inc()
            return
        wire = text_frame(raw)  # framed once, for every subscriber
        if key[0] == "news":
            self._news(group, text, message, wire)
            return
        for client in group:
            client.deliver(text, wire)
        ACCOUNT_EVENTS.inc(len(group))

    def reply(self, ident: str, text: str, message: dict) -> None:
        waiting = self.pending.pop(ident, None)
        if waiting is None:
            return
        client, client_ident, key = waiting
        payload = message.get("payload")
        status = payload.get("status") if isinstance(payload, dict) else None
        if message.get("type") == "response" and status not in (None, 200):
            self.unsubscribe(client, key)  # upstream refused it: nothing to keep
        client.send(with_id(text, ident, client_ident))

    def _snapshot(self, key: tuple, text: str, message: dict) -> None:
        """A subscription replayed after a reconnect: a fresh snapshot for each of
        its subscribers, under the id of their own subscribe request."""
        if key[0] in protocol.ACCOUNT_TOPICS and key[1] not in self.link.account_ids:
            ACCOUNT_DENIED.inc()
            return
        ident = message.get("id")
        for client, client_ident in self.subscribers.get(key, {}).items():
            client.send(with_id(text, ident, client_ident))

    def _news(self, group: dict, text: str, message: dict, wire: bytes) -> None:
        data = message.get("payload", {}).get("data")
        items = data.get("items") if isinstance(data, dict) else None
        delivered = 0
        for client in group:
            sub, _ = client.subscriptions[("news",)]
            if not sub.params or _wanted(sub.params, items):
                client.deliver(text, wire)
                delivered += 1
        ACCOUNT_EVENTS.inc(delivered)

    def _news_ack(self, client, sub, ident) -> None:
        client.send(
            protocol.dumps(
                {
                    "type": "subscribed",
                    "id": ident,
                    "timestamp": protocol.now_rfc3339(),
                    "payload": {"status": 200, "topic": "news", "params": sub.params},
                }
            )
        )


def _wanted(params: dict, items) -> bool:
    """Whether a news event carries an item the filter asks for: one mentioning any of
    the filter's symbols and tagged with any of its topics (a part the filter leaves
    out matches every item)."""
    if not isinstance(items, list):
        return False
    symbols, topics = set(params.get("symbols", ())), set(params.get("topics", ()))
    for item in items:
        if not isinstance(item, dict):
            continue
        if symbols and not symbols & set(_strings(item.get("symbols"))):
            continue
        if topics and not topics & set(_strings(item.get("topics"))):
            continue
        return True
    return False


def _strings(values) -> list[str]:
    return [v for v in values if isinstance(v, str)] if isinstance(values, list) else []
