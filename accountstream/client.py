"""One member app's connection to `/v1/accounts/ws` as the gateway sees it: who it is
(once authenticated), its own session clock, and what it subscribed to."""

import itertools
import time

from accountstream import protocol
from marketdata.access import Access
from marketdata.live.outbox import Outbox

_ids = itertools.count(1)


class AccountClient:
    __slots__ = (
        "id",
        "peer",
        "outbox",
        "key_hash",
        "access",
        "session_ends",
        "timers",
        "subscriptions",
        "opened_at",
        "events",
        "metered_events",
        "metered_at",
    )

    def __init__(self, peer: str, outbox: Outbox) -> None:
        self.id = f"a{next(_ids)}"
        self.peer = peer
        self.outbox = outbox
        self.key_hash = ""
        self.access: Access | None = None
        self.session_ends = 0.0  # monotonic; the gateway's own session for this client
        self.timers: list = []  # the refresh warning and the expiry (loop handles)
        # key -> (the subscription, the id of the client's subscribe request)
        self.subscriptions: dict[tuple, tuple[protocol.Subscription, str | None]] = {}
        self.opened_at = time.monotonic()
        self.events = 0  # events delivered
        self.metered_events = 0  # what the usage meter has been told
        self.metered_at = self.opened_at

    @property
    def member_id(self) -> int | None:
        return None if self.access is None else self.access.member_id

    def send(self, frame: str) -> None:
        """Account events and replies are never conflated away: a client too far
        behind is closed (marketdata.live.outbox's hard bound), never silently
        missing a fill."""
        self.outbox.push(frame, keep=True)

    def deliver(self, frame: str, wire: bytes | None = None) -> None:
        """`wire`: the frame already encoded (marketdata.live.outbox.text_frame)."""
        if self.outbox.push(frame, keep=True, wire=wire):
            self.events += 1

    def close(self, code: int, reason: str, message: str | None = None) -> None:
        self.outbox.close(code, reason, message=message)

    def cancel_timers(self) -> None:
        for handle in self.timers:
            handle.cancel()
        self.timers = []

    def unmetered(self) -> tuple[int, int]:
        """Events and whole seconds of connection time since the last call (the
        part-second carries over), marked as metered."""
        seconds = int(time.monotonic() - self.metered_at)
        self.metered_at += seconds
        events, self.metered_events = self.events - self.metered_events, self.events
        return events, seconds
