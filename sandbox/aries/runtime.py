"""What the Aries endpoints share on one sandbox app: the sandbox state (whose `aries`
book holds the data), the WebSocket hub and the order engine, and the actions of the
control API that involve more than one of them."""

import dataclasses
from decimal import Decimal

from aiohttp import web

from orgportal import clock
from sandbox.aries.book import AriesBook, Event, User
from sandbox.aries.config import AriesChanges
from sandbox.aries.engine import Engine
from sandbox.aries.hub import Hub
from sandbox.state.errors import invalid
from sandbox.state.store import SandboxState

__all__ = ["RUNTIME_KEY", "Runtime"]


class Runtime:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.hub = Hub(state)
        self.engine = Engine(self)

    @staticmethod
    def now() -> float:
        return clock.now().timestamp()

    def publish(self, book: AriesBook, events: list[Event]) -> None:
        if book is self.state.aries:
            self.hub.publish(book, events)

    async def apply(self, changes: AriesChanges) -> None:
        """A validated `POST /_sandbox/aries`: settings, then actions. The token to
        expire is looked up first, so an unknown one changes nothing."""
        book = self.state.aries
        user_id = jti = None
        if changes.expire_token is not None:
            target = changes.expire_token
            if target in book.users:
                user_id = target
            else:
                jti = book.tokens.jti_of(target)
                if jti is None:
                    raise invalid(
                        "expire_token",
                        "'expire_token' is neither a user id nor an access token "
                        "the sandbox issued",
                    )
        if changes.settings:
            book.config = dataclasses.replace(book.config, **changes.settings)
        if changes.drop:
            self.hub.drop_all()
        if user_id is not None or jti is not None:
            book.tokens.revoke_access(user_id=user_id, jti=jti)
            if changes.revoke_refresh:
                owner = user_id or book.tokens.access[jti].user_id
                book.tokens.revoke_refresh(owner)
            self.hub.expire(book, user_id=user_id, jti=jti)

    def price_set(self, symbol: str, price: Decimal | None) -> None:
        book = self.state.aries
        self.publish(book, book.price_set(symbol, price))

    def watchlist_edit(
        self, user: User, watchlist_id: str, action: str, symbol: str
    ) -> Event | None:
        book = self.state.aries
        event = book.watchlist_edit(user, watchlist_id, action, symbol)
        if event is not None:
            self.publish(book, [event])
        return event

    async def shutdown(self, app: web.Application) -> None:
        self.engine.stop()
        await self.hub.shutdown()


RUNTIME_KEY = web.AppKey("aries_runtime", Runtime)
