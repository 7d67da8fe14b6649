"""The simulated brokerage's state: users, their accounts and watchlists, orders,
tokens, price overrides, published news and the settings (`AriesBook`).

`SandboxState.reset` replaces the book with a fresh one; everything that runs on the
event loop (order lifecycles, connections) checks that the book it started with is
still the state's before acting, so nothing from before a reset reaches a later test.

Methods here change the state and return the events the change causes, as
`(target, name, data)`: target "account:<id>" for the `account` topic, "user:<id>" for
`watchlist`; `sandbox.aries.hub` routes them to subscriptions. The book is used from
the event loop only (the control API and the WebSocket run there), so it has no lock.
"""

import dataclasses
from decimal import Decimal
from typing import Any

from orgportal import clock
from sandbox.aries.accounts import Account
from sandbox.aries.config import AriesConfig
from sandbox.aries.money import ZERO, exact
from sandbox.aries.orders import Order
from sandbox.aries.prices import Prices, quote_change, tradable
from sandbox.aries.tokens import TokenStore

__all__ = ["AriesBook", "Event", "User"]

Event = tuple[str, str, dict[str, Any]]
DEFAULT_CASH = Decimal("100000.00")
DEFAULT_WATCHLIST = "WL-001"


@dataclasses.dataclass(slots=True)
class User:
    id: str
    account_ids: list[str]
    # watchlist id -> symbols in the order they were added
    watchlists: dict[str, list[str]]


def now() -> float:
    return clock.now().timestamp()


class AriesBook:
    def __init__(self) -> None:
        self.config = AriesConfig()
        self.users: dict[str, User] = {}
        self.accounts: dict[str, Account] = {}
        self.orders: dict[str, Order] = {}
        self.tokens = TokenStore()
        self.prices = Prices()
        self._next_user = 100_000
        self._next_account = 100_000
        self._next_order = 10_000
        self._next_news = 0

    # --- users and accounts -----------------------------------------------------------

    def user_create(
        self, *, accounts: int, cash: Decimal = DEFAULT_CASH, account_type: str
    ) -> tuple[User, dict[str, Any]]:
        """A user with `accounts` accounts of `cash` each, and their first tokens."""
        self._next_user += 1
        user = User(f"U{self._next_user}", [], {DEFAULT_WATCHLIST: []})
        t = now()
        for _ in range(accounts):
            self._next_account += 1
            account = Account(
                f"ACC{self._next_account}", user.id, account_type, t, cash, cash
            )
            self.accounts[account.id] = account
            user.account_ids.append(account.id)
        self.users[user.id] = user
        return user, self.tokens.issue(user.id, self.config.token_seconds)

    def account_orders(self, account_id: str) -> list[Order]:
        return [o for o in self.orders.values() if o.account_id == account_id]

    def price(self, symbol: str, t: float | None = None) -> Decimal:
        return self.prices.at(symbol, now() if t is None else t)

    def figures(self, account: Account, t: float | None = None) -> dict[str, Any]:
        moment = now() if t is None else t
        held = ZERO
        working = 0
        for order in self.account_orders(account.id):
            if not order.working:
                continue
            working += 1
            # Funds are held once the order is accepted (NEW), not while it is still
            # being checked.
            if order.status == "PENDING_NEW":
                continue
            if order.direction > 0 or order.side == "SELL_SHORT":
                with exact():
                    reference = order.reference_price(self.price(order.symbol, moment))
                    held += order.leaves * reference
        return account.figures(lambda s: self.price(s, moment), held, working)

    def snapshot(self, account: Account) -> dict[str, Any]:
        """The `account` topic's initial snapshot."""
        t = now()
        orders = self.account_orders(account.id)
        return {
            "account": account.snapshot_json(self.figures(account, t)),
            "positions": [
                p.as_json(self.price(p.symbol, t)) for p in account.open_positions()
            ],
            "orders": [order.legacy_json() for order in orders],
            "ordersV2": [order.as_json() for order in orders],
        }

    # --- events -----------------------------------------------------------------------

    def order_event(self, order: Order) -> Event:
        return (f"account:{order.account_id}", "account.order", order.as_json())

    def balance_event(self, account: Account) -> Event:
        data = account.balance_json(self.figures(account))
        return (f"account:{account.id}", "account.balance", data)

    def position_event(self, account: Account, symbol: str) -> Event:
        position = account.positions[symbol]
        data = position.as_json(self.price(symbol))
        return (f"account:{account.id}", "account.position", data)

    # --- prices -----------------------------------------------------------------------

    def price_set(self, symbol: str, price: Decimal | None) -> list[Event]:
        """Override a symbol's price (None: back to synth's); positions in it and their
        accounts' balances are sent again at the new price."""
        self.prices.set(symbol, price, now())
        events: list[Event] = []
        for account in self.accounts.values():
            held = account.positions.get(symbol)
            if held is not None and held.qty != 0:
                events.append(self.position_event(account, symbol))
                events.append(self.balance_event(account))
        return events

    # --- watchlists -------------------------------------------------------------------

    def watchlist_edit(
        self, user: User, watchlist_id: str, action: str, symbol: str
    ) -> Event | None:
        """Add, update or remove a symbol; None when there is nothing to update or
        remove."""
        listed = user.watchlists.setdefault(watchlist_id, [])
        if action == "add":
            if symbol not in listed:
                listed.append(symbol)
        elif symbol not in listed:
            return None
        elif action == "remove":
            listed.remove(symbol)
        return (
            f"user:{user.id}",
            "watchlist",
            self.watchlist_item(watchlist_id, symbol, action),
        )

    def watchlist_item(
        self, watchlist_id: str, symbol: str, action: str
    ) -> dict[str, Any]:
        found = tradable(symbol)
        assert found is not None
        t = now()
        change, percent = quote_change(found, t)
        return {
            "id": watchlist_id,
            "symbol": symbol,
            "name": found.name,
            "lastPrice": format(self.price(symbol, t), "f"),
            "change": change,
            "changePercent": percent,
            "action": action,
        }

    # --- ids --------------------------------------------------------------------------

    def next_order_id(self) -> str:
        self._next_order += 1
        return f"ORD-{self._next_order}"

    def next_news_id(self) -> str:
        self._next_news += 1
        return f"sbx-aries-{self._next_news}"
