"""Orders of the simulated brokerage: their fields, what Aries shows of them (the full
`account.order` record and the snapshot's legacy `orders` shape), and the pure rules
of their lifecycle: when an order can fill at a price, and how its quantity is split
into fills.

Statuses follow the doc: PENDING_NEW -> NEW -> PARTIALLY_FILLED -> FILLED, or
CANCELED (via PENDING_CANCEL), REJECTED, EXPIRED; a replace passes PENDING_REPLACE.
"""

import dataclasses
from decimal import Decimal
from typing import Any

from sandbox.aries.accounts import timestamp
from sandbox.aries.money import ZERO, divide, exact, fmt

__all__ = [
    "DONE",
    "FILL_PARTS",
    "SIDES",
    "TIME_IN_FORCE",
    "TYPES",
    "Order",
    "fill_sizes",
]

SIDES = ("BUY", "SELL", "SELL_SHORT", "BUY_TO_COVER")
TYPES = ("MARKET", "LIMIT", "STOP", "STOP_LIMIT")
TIME_IN_FORCE = ("DAY", "GTC", "IOC", "FOK")
DONE = frozenset({"FILLED", "CANCELED", "REJECTED", "EXPIRED"})
# Fills a marketable order is split into at most (fewer when its quantity has fewer
# units of its own smallest step).
FILL_PARTS = 3
# The venue the doc's example names; every sandbox order routes there.
EX_DESTINATION = "MNGDFTE"


@dataclasses.dataclass(slots=True)
class Order:
    id: str
    cl_ord_id: str
    account_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    qty: Decimal
    price: Decimal | None  # limit price (LIMIT, STOP_LIMIT)
    stop_price: Decimal | None  # STOP, STOP_LIMIT
    created_at: float
    updated_at: float
    status: str = "PENDING_NEW"
    cum_qty: Decimal = ZERO
    filled_value: Decimal = ZERO  # Σ fill qty × fill price
    triggered: bool = False  # a stop order's stop price was touched
    reject_reason: str | None = None
    fills: list[tuple[Decimal, Decimal, float]] = dataclasses.field(
        default_factory=list
    )

    @property
    def direction(self) -> int:
        """+1 when filling adds shares to the account, -1 when it removes them."""
        return 1 if self.side in ("BUY", "BUY_TO_COVER") else -1

    @property
    def working(self) -> bool:
        return self.status not in DONE

    @property
    def leaves(self) -> Decimal:
        if not self.working:
            return ZERO
        with exact():
            return self.qty - self.cum_qty

    @property
    def avg_price(self) -> Decimal:
        return divide(self.filled_value, self.cum_qty) if self.cum_qty else ZERO

    def executable(self, market: Decimal) -> bool:
        """Whether the order may fill now at the market price `market`; touches a
        stop order's trigger."""
        buying = self.direction > 0
        if self.type in ("STOP", "STOP_LIMIT") and not self.triggered:
            assert self.stop_price is not None
            touched = market >= self.stop_price if buying else market <= self.stop_price
            if not touched:
                return False
            self.triggered = True
        if self.type in ("MARKET", "STOP"):
            return True
        assert self.price is not None
        return market <= self.price if buying else market >= self.price

    def reference_price(self, market: Decimal) -> Decimal:
        """What one share is reckoned to cost while the order works: its limit price,
        or the market price for market and stop orders."""
        return self.price if self.price is not None else market

    def add_fill(self, qty: Decimal, price: Decimal, t: float) -> None:
        with exact():
            self.cum_qty += qty
            self.filled_value += qty * price
        self.fills.append((qty, price, t))
        self.status = "FILLED" if self.cum_qty == self.qty else "PARTIALLY_FILLED"
        self.updated_at = t

    def as_json(self) -> dict[str, Any]:
        """The `account.order` event's data (and the snapshot's `ordersV2` entries)."""
        data = {
            **self.legacy_json(),
            "cumQty": fmt(self.cum_qty),
            "leavesQty": fmt(self.leaves),
            "avgPrice": fmt(self.avg_price),
            "currency": "USD",
            "exDestination": EX_DESTINATION,
            "securityType": "EQUITY",
            "category": "EQUITY",
            "createdAt": timestamp(self.created_at),
            "updatedAt": timestamp(self.updated_at),
        }
        if self.stop_price is not None:
            data["stopPrice"] = fmt(self.stop_price)
        if self.reject_reason is not None:
            data["rejectReason"] = self.reject_reason
        return data

    def legacy_json(self) -> dict[str, Any]:
        """The snapshot's legacy `orders` entry: the doc's ten fields."""
        return {
            "ordId": self.id,
            "clOrdId": self.cl_ord_id,
            "accountId": self.account_id,
            "symbol": self.symbol,
            "side": self.side,
            "type": self.type,
            "timeInForce": self.time_in_force,
            "qty": fmt(self.qty),
            "price": fmt(self.price) if self.price is not None else "0",
            "ordStatus": self.status,
        }


def fill_sizes(qty: Decimal, parts: int = FILL_PARTS) -> list[Decimal]:
    """`qty` split into at most `parts` fills of whole steps of its own smallest unit
    (100 -> 33, 33, 34; 0.00000001 -> itself), summing exactly to `qty`."""
    exponent = qty.as_tuple().exponent
    assert isinstance(exponent, int)
    unit = Decimal(1).scaleb(min(exponent, 0))
    with exact():
        units = int(qty / unit)
        count = max(1, min(parts, units))
        base = units // count
        sizes = [base * unit for _ in range(count - 1)]
        sizes.append(qty - sum(sizes, ZERO))
    return sizes
