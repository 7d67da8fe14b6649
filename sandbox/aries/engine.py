"""Order lifecycles of the simulated brokerage, played out on the event loop at
`fill_step_seconds` per step and at `sandbox.aries.prices` prices.

- placed: PENDING_NEW at once; one step later REJECTED (unknown symbol, short sale
  outside a margin account, selling more than is held, not enough buying power) or NEW;
- then each step, while the order can execute at the market price (market orders
  always, limit orders when the price is at or better than the limit, stop orders once
  the stop is touched): one fill at the market price, the quantity split into up to
  three fills (`orders.fill_sizes`); IOC and FOK fill whole at their first step or are
  CANCELED;
- cancel: PENDING_CANCEL at once, CANCELED a step later; replace: PENDING_REPLACE at
  once, the new quantity and/or price a step later; DAY orders EXPIRE on request or
  once the clock passes `day_orders_expire_at`.

Each change publishes, in order, the order event, then for a fill the position, then
the account's balance.
"""

import asyncio
from decimal import Decimal
from typing import TYPE_CHECKING

from orgportal import clock
from sandbox.aries.book import AriesBook, Event
from sandbox.aries.money import ZERO, exact
from sandbox.aries.orders import FILL_PARTS, Order, fill_sizes
from sandbox.aries.prices import tradable

if TYPE_CHECKING:
    from sandbox.aries.runtime import Runtime

__all__ = ["Engine"]


def _now() -> float:
    return clock.now().timestamp()


class Engine:
    def __init__(self, runtime: "Runtime") -> None:
        self.runtime = runtime
        self._tasks: set[asyncio.Task[None]] = set()

    def _alive(self, book: AriesBook) -> bool:
        return book is self.runtime.state.aries

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _changed(self, book: AriesBook, order: Order, *extra: Event) -> None:
        account = book.accounts[order.account_id]
        events = [book.order_event(order), *extra, book.balance_event(account)]
        self.runtime.publish(book, events)

    async def _step(self, book: AriesBook) -> bool:
        await asyncio.sleep(book.config.fill_step_seconds)
        return self._alive(book)

    def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    # --- placing ----------------------------------------------------------------------

    def place(self, *, symbol: str, cl_ord_id: str | None, **fields) -> Order:
        """A new order of `fields` (account_id, side, type, time_in_force, qty, price,
        stop_price, as Order names them), working from now."""
        book = self.runtime.state.aries
        t = _now()
        found = tradable(symbol)
        ord_id = book.next_order_id()
        order = Order(
            id=ord_id,
            cl_ord_id=cl_ord_id or f"CL-{ord_id.removeprefix('ORD-')}",
            symbol=found.ticker if found is not None else symbol.upper(),
            created_at=t,
            updated_at=t,
            **fields,
        )
        book.orders[order.id] = order
        self._changed(book, order)
        self._spawn(self._run(book, order))
        return order

    def _reject_reason(self, book: AriesBook, order: Order) -> str | None:
        if tradable(order.symbol) is None:
            return f"unknown symbol: {order.symbol}"
        account = book.accounts[order.account_id]
        if order.side == "SELL_SHORT" and not account.margin:
            return "short sales need a margin account"
        position = account.positions.get(order.symbol)
        held = position.qty if position is not None else ZERO
        with exact():
            if order.side in ("SELL", "BUY_TO_COVER"):
                # Shares other working orders already mean to sell (or buy back).
                pending = sum(
                    (
                        other.leaves
                        for other in book.account_orders(account.id)
                        if other is not order
                        and other.working
                        and other.side == order.side
                        and other.symbol == order.symbol
                    ),
                    ZERO,
                )
                available = held if order.side == "SELL" else -held
                if order.qty > available - pending:
                    return "insufficient position"
                return None
            market = book.price(order.symbol)
            cost = order.qty * order.reference_price(market)
            figures = book.figures(account)
            if cost > figures["stockBuyingPower"]:
                return "insufficient buying power"
        return None

    # --- the lifecycle ----------------------------------------------------------------

    async def _run(self, book: AriesBook, order: Order) -> None:
        if not await self._step(book) or order.status != "PENDING_NEW":
            return
        reason = self._reject_reason(book, order)
        order.updated_at = _now()
        if reason is not None:
            order.status = "REJECTED"
            order.reject_reason = reason
            self._changed(book, order)
            return
        order.status = "NEW"
        self._changed(book, order)
        while order.working:
            if not await self._step(book):
                return
            if order.status in ("PENDING_CANCEL", "PENDING_REPLACE"):
                continue
            if not order.working:
                return
            if self._day_over(order):
                self._finish(book, order, "EXPIRED")
                return
            market = book.price(order.symbol)
            if not order.executable(market):
                if order.time_in_force in ("IOC", "FOK"):
                    self._finish(book, order, "CANCELED")
                    return
                continue
            if order.time_in_force in ("IOC", "FOK"):
                size = order.leaves
            else:
                parts = max(1, FILL_PARTS - len(order.fills))
                size = fill_sizes(order.leaves, parts)[0]
            self._fill(book, order, size, market)

    def _fill(
        self, book: AriesBook, order: Order, size: Decimal, price: Decimal
    ) -> None:
        t = _now()
        account = book.accounts[order.account_id]
        account.fill(order.symbol, size * order.direction, price, t)
        order.add_fill(size, price, t)
        self._changed(book, order, book.position_event(account, order.symbol))

    def _finish(self, book: AriesBook, order: Order, status: str) -> None:
        order.status = status
        order.updated_at = _now()
        self._changed(book, order)

    def _day_over(self, order: Order) -> bool:
        expires = self.runtime.state.aries.config.day_orders_expire_at
        return (
            order.time_in_force == "DAY"
            and expires is not None
            and clock.now() >= expires
        )

    # --- cancel, replace, expire ------------------------------------------------------

    def cancel(self, order: Order) -> None:
        book = self.runtime.state.aries
        order.status = "PENDING_CANCEL"
        order.updated_at = _now()
        self._changed(book, order)
        self._spawn(self._cancel(book, order))

    async def _cancel(self, book: AriesBook, order: Order) -> None:
        if await self._step(book) and order.status == "PENDING_CANCEL":
            self._finish(book, order, "CANCELED")

    def replace(
        self, order: Order, *, qty: Decimal | None, price: Decimal | None
    ) -> None:
        book = self.runtime.state.aries
        order.status = "PENDING_REPLACE"
        order.updated_at = _now()
        self._changed(book, order)
        self._spawn(self._replace(book, order, qty, price))

    async def _replace(
        self, book: AriesBook, order: Order, qty: Decimal | None, price: Decimal | None
    ) -> None:
        if not await self._step(book) or order.status != "PENDING_REPLACE":
            return
        if qty is not None:
            order.qty = qty
        if price is not None:
            order.price = price
        self._finish(book, order, "PARTIALLY_FILLED" if order.cum_qty else "NEW")

    def expire_day_orders(self, account_id: str | None) -> list[Order]:
        """Expire the working DAY orders (of one account, or all) now."""
        book = self.runtime.state.aries
        expiring = [
            order
            for order in book.orders.values()
            if order.working
            and order.time_in_force == "DAY"
            and (account_id is None or order.account_id == account_id)
        ]
        for order in expiring:
            self._finish(book, order, "EXPIRED")
        return expiring
