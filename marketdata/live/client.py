"""One member's WebSocket connection as the gateway sees it: who it is, what it holds
(plan, slot, subscriptions) and what it has been sent."""

import itertools
import time

from marketdata.access import Access
from marketdata.live import rules
from marketdata.live.outbox import Outbox
from members import tiers

_ids = itertools.count(1)


class Client:
    __slots__ = (
        "id",
        "path",
        "peer",
        "outbox",
        "token",
        "key_hash",
        "access",
        "plan",
        "slot",
        "subscriptions",
        "opened_at",
        "opened_wall",
        "messages",
        "bytes",
        "feed_state",
        "metered_at",
        "metered_messages",
        "metered_bytes",
    )

    def __init__(self, path: str, peer: str, outbox: Outbox) -> None:
        self.id = f"{next(_ids)}"
        self.path = path
        self.peer = peer
        self.outbox = outbox
        self.token = ""
        self.key_hash = ""
        self.access: Access | None = None
        self.plan: rules.Plan | None = None
        self.slot: str | None = None
        self.subscriptions: list[rules.Subscription] = []
        self.opened_at = time.monotonic()
        self.opened_wall = time.time()
        self.messages = 0  # data frames delivered
        self.bytes = 0
        self.feed_state = None  # what the feed keeps for this client
        self.metered_at = self.opened_at  # what the usage meter has been told
        self.metered_messages = 0
        self.metered_bytes = 0

    @property
    def member_id(self) -> int | None:
        return None if self.access is None else self.access.member_id

    def admit(self, access: Access) -> None:
        self.access = access
        self.plan = rules.plan_of(
            tiers.tier_features(access.tier), access.websocket_symbols
        )

    def deliver(
        self, frame: str, key: object = None, wire: bytes | None = None
    ) -> None:
        """A data frame for this client (dropped silently once it is closing); `wire`
        is the frame encoded once for every subscriber (outbox.text_frame). The feed
        counts deliveries in orgportal_ws_deliveries_total, once per frame."""
        if self.outbox.push(frame, key, wire=wire):
            self.messages += 1
            self.bytes += len(frame)

    def say(self, frame: str) -> None:
        """A status or error frame: never conflated away."""
        self.outbox.push(frame, keep=True)

    def close(self, code: int, reason: str, message: str | None = None) -> None:
        self.outbox.close(code, reason, message=message, now=True)

    def unmetered(self) -> tuple[int, int, int]:
        """Messages, bytes and whole seconds of connection time since the last call
        (the part-second carries over), marked as metered."""
        seconds = int(time.monotonic() - self.metered_at)
        messages = self.messages - self.metered_messages
        sent = self.bytes - self.metered_bytes
        self.metered_at += seconds
        self.metered_messages, self.metered_bytes = self.messages, self.bytes
        return messages, sent, seconds

    def describe(self) -> dict:
        """For operators: what this connection is and holds."""
        return {
            "id": self.id,
            "path": self.path,
            "peer": self.peer,
            "opened_at": self.opened_wall,
            "subscriptions": [s.item for s in self.subscriptions],
            "messages": self.messages,
            "bytes": self.bytes,
            "behind": len(self.outbox),
        }
