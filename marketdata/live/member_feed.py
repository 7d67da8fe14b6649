"""Member mode (the default): each member connection has its own upstream connection,
opened with that member's own upstream key, so upstream's per-key accounting stays
true. Upstream frames are relayed as they come (parsed once, to drop garbage and to
know what a frame updates)."""

from marketdata.live import closes
from marketdata.live.client import Client
from marketdata.live.link import Backoff, Link
from orgportal.metrics import WS_DELIVERIES, WS_UPSTREAM_STREAMS

_LINKS = WS_UPSTREAM_STREAMS.labels("member")


class MemberFeed:
    mode = "member"

    def __init__(self, session, base_url: str, *, stale_after, backoff) -> None:
        self.session = session
        self.base_url = base_url
        self.stale_after = stale_after
        self.backoff = backoff  # (base, cap)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def attach(self, client: Client) -> None:
        def on_frame(text: str, message: dict) -> None:
            if "message" in message and len(message) == 1:
                client.say(text)  # upstream's error about a subscription
            else:
                client.deliver(text)
                WS_DELIVERIES.inc()

        def on_status(state: str, cause: str) -> None:
            client.say(
                closes.RECOVERED if state == "recovered" else closes.degraded(cause)
            )

        def on_fatal(reason: str) -> None:
            client.close(*closes.UPSTREAM_REFUSED_KEY, message=closes.message(reason))

        link = Link(
            self.session,
            self.base_url + client.path,
            client.access.upstream_key,
            on_frame=on_frame,
            on_status=on_status,
            on_fatal=on_fatal,
            stale_after=self.stale_after,
            backoff=Backoff(*self.backoff),
        )
        if client.path == "/live":
            link.subscriptions = []
        client.feed_state = link.start()
        _LINKS.inc()

    def replace(self, client: Client) -> None:
        client.feed_state.replace([s.item for s in client.subscriptions])

    async def detach(self, client: Client) -> None:
        link = client.feed_state
        if link is not None:
            client.feed_state = None
            _LINKS.dec()
            await link.stop()

    def describe(self) -> dict:
        return {"mode": self.mode}
