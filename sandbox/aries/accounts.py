"""Brokerage accounts: cash, positions and the arithmetic of a fill, and the balance
and position records Aries sends (`account.balance`, `account.position`, the snapshot's
`account`).

Positions are signed (short is negative) with a signed cost basis, so a fill that
reduces a position realizes `closed × price − closed share of the cost`; a fill that
crosses zero closes, then opens the rest at the fill price. Cash moves by exactly
`qty × price` per fill, so equity (cash + Σ qty × price) never carries a rounding: only
the split between realized and unrealized P&L can, when a partial close's cost share
does not terminate (`money.divide`).

Balance rules (a simplified Reg T, following the doc's example figures):
- equity = cash + long market value − short market value;
- maintReq = 25% of long + 30% of short market value;
- held = what working orders that spend buying power would cost at their limit (or the
  current) price; cashAvailable = cash − held; netBuyingPower = max(0, cashAvailable);
- stock buying power = netBuyingPower × creditMultiplier (2 on MARGIN, 1 otherwise);
  day-trade buying power twice that on MARGIN; maintenanceExcess = cashAvailable −
  maintReq.
"""

import dataclasses
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from sandbox.aries.money import ZERO, divide, exact, fmt

__all__ = ["Account", "Position", "timestamp"]

ACCOUNT_TYPES = ("CASH", "MARGIN", "IRA", "ROTH_IRA", "RETIREMENT")
LONG_MAINTENANCE = Decimal("0.25")
SHORT_MAINTENANCE = Decimal("0.30")

PriceAt = Callable[[str], Decimal]


def timestamp(t: float) -> str:
    """RFC3339 in UTC to the second, as the doc's examples write it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


@dataclasses.dataclass(slots=True)
class Position:
    account_id: str
    symbol: str
    qty: Decimal  # signed: short is negative
    cost: Decimal  # signed cost basis of the open quantity
    realized: Decimal
    created_at: float
    updated_at: float

    @property
    def avg_price(self) -> Decimal:
        return divide(abs(self.cost), abs(self.qty)) if self.qty else ZERO

    def unrealized(self, price: Decimal) -> Decimal:
        with exact():
            return self.qty * price - self.cost

    def as_json(self, price: Decimal) -> dict[str, Any]:
        avg = fmt(self.avg_price)
        unrealized = fmt(self.unrealized(price))
        realized = fmt(self.realized)
        with exact():
            today = fmt(self.unrealized(price) + self.realized)
        return {
            "accountId": self.account_id,
            "symbol": self.symbol,
            "securityType": "EQUITY",
            "qty": fmt(self.qty),
            "avgPrice": avg,
            "avgCost": avg,
            "unRealizedPL": unrealized,
            "todayRealizedPnL": realized,
            "realizedPL": realized,
            "todayPL": today,
            "instrument": "EQUITY",
            "createdAt": timestamp(self.created_at),
            "updatedAt": timestamp(self.updated_at),
        }


@dataclasses.dataclass(slots=True)
class Account:
    id: str
    user_id: str
    account_type: str
    created_at: float
    cash: Decimal
    start_cash: Decimal
    positions: dict[str, Position] = dataclasses.field(default_factory=dict)
    realized: Decimal = ZERO  # every position's, closed ones included
    value_bought: Decimal = ZERO
    value_sold: Decimal = ZERO
    # (time, cash, {symbol: qty}) from opening and after each fill, for P&L candles.
    history: list[tuple[float, Decimal, dict[str, Decimal]]] = dataclasses.field(
        default_factory=list
    )

    def __post_init__(self) -> None:
        if not self.history:
            self.history.append((self.created_at, self.cash, {}))

    @property
    def margin(self) -> bool:
        return self.account_type == "MARGIN"

    @property
    def multiplier(self) -> Decimal:
        return Decimal(2) if self.margin else Decimal(1)

    def open_positions(self) -> list[Position]:
        return [p for p in self.positions.values() if p.qty != 0]

    # --- fills ------------------------------------------------------------------------

    def fill(
        self, symbol: str, signed_qty: Decimal, price: Decimal, t: float
    ) -> Position:
        """Apply one execution: `signed_qty` > 0 buys, < 0 sells. Returns the position
        after it (qty 0 when closed)."""
        with exact():
            position = self.positions.get(symbol)
            if position is None:
                position = Position(self.id, symbol, ZERO, ZERO, ZERO, t, t)
                self.positions[symbol] = position
            elif position.qty == 0:
                position.created_at = t
            q = position.qty
            if q == 0 or (q > 0) == (signed_qty > 0):
                position.qty = q + signed_qty
                position.cost += signed_qty * price
            else:
                closed = min(abs(signed_qty), abs(q))
                sign = 1 if q > 0 else -1
                if closed == abs(q):
                    cost_closed = position.cost
                else:
                    cost_closed = divide(position.cost * closed, abs(q))
                realized = sign * closed * price - cost_closed
                position.realized += realized
                self.realized += realized
                position.qty = q - sign * closed
                position.cost -= cost_closed
                rest = abs(signed_qty) - closed
                if rest:
                    position.qty = -sign * rest
                    position.cost = -sign * rest * price
                    position.created_at = t
            notional = abs(signed_qty) * price
            self.cash -= signed_qty * price
            if signed_qty > 0:
                self.value_bought += notional
            else:
                self.value_sold += notional
            position.updated_at = t
            quantities = {p.symbol: p.qty for p in self.open_positions()}
            self.history.append((t, self.cash, quantities))
        return position

    # --- what Aries shows -------------------------------------------------------------

    def figures(self, price_at: PriceAt, held: Decimal, working: int) -> dict[str, Any]:
        """Every balance figure, as Decimals (and the working order count)."""
        with exact():
            long_value = short_value = unrealized = ZERO
            for position in self.open_positions():
                price = price_at(position.symbol)
                value = position.qty * price
                if value > 0:
                    long_value += value
                else:
                    short_value -= value
                unrealized += position.unrealized(price)
            equity = self.cash + long_value - short_value
            maint = LONG_MAINTENANCE * long_value + SHORT_MAINTENANCE * short_value
            available = self.cash - held
            net = max(available, ZERO)
            stock = net * self.multiplier
            day_trade = stock * 2 if self.margin else net
            credit = equity if self.margin else ZERO
            gross_margin = max(-self.cash, ZERO)
            return {
                "cash": self.cash,
                "cashAvailable": available,
                "equity": equity,
                "maintReq": maint,
                "maintenanceExcess": available - maint,
                "netBuyingPower": net,
                "stockBuyingPower": stock,
                "dayTradeBuyingPower": day_trade,
                "optionBuyingPower": net,
                "held": held,
                "grossMargin": gross_margin,
                "credit": credit,
                "creditRemaining": max(credit - gross_margin, ZERO),
                "unrealized": unrealized,
                "working": working,
            }

    def balance_json(self, figures: Mapping[str, Any]) -> dict[str, Any]:
        f = {k: fmt(v) if isinstance(v, Decimal) else v for k, v in figures.items()}
        return {
            "accountId": self.id,
            "sodPositionsMarketValue": "0",
            "netBuyingPower": f["netBuyingPower"],
            "stockBuyingPower": f["stockBuyingPower"],
            "dayTradeBuyingPower": f["dayTradeBuyingPower"],
            "optionBuyingPower": f["optionBuyingPower"],
            "dayTradeOvernightRegTBuyingPower": f["stockBuyingPower"],
            "totalEquity": f["equity"],
            "settledFunds": fmt(max(figures["cash"], ZERO)),
            "unsettledFunds": "0",
            "heldBackFunds": f["held"],
            "grossMargin": f["grossMargin"],
            "pendingOrdersMarginRequirements": f["held"],
            "maintReq": f["maintReq"],
            "creditMultiplier": fmt(self.multiplier),
            "pendingOrdersCount": figures["working"],
            "credit": f["credit"],
            "creditRemaining": f["creditRemaining"],
            "realizedPL": fmt(self.realized),
            "unRealizedPL": f["unrealized"],
            "SMA": f["netBuyingPower"],
            "smaCreditRemaining": f["netBuyingPower"],
            "PDT": "0",
            "pdtCreditRemaining": f["dayTradeBuyingPower"],
            "startOfDayCash": fmt(self.start_cash),
            "valueBought": fmt(self.value_bought),
            "valueSold": fmt(self.value_sold),
        }

    def snapshot_json(self, figures: Mapping[str, Any]) -> dict[str, Any]:
        """The snapshot's `account`: the doc's account fields, then the rest of the
        balance merged in."""
        balance = self.balance_json(figures)
        f = {k: fmt(v) if isinstance(v, Decimal) else v for k, v in figures.items()}
        account = {
            "accountNumber": self.id,
            "accountType": self.account_type,
            "accountClass": "INDIVIDUAL",
            "optionsLevel": "LEVEL_3" if self.margin else "LEVEL_1",
            "cashAvailable": f["cashAvailable"],
            "netLiquidity": f["equity"],
            "marginEquity": f["equity"],
            "maintenanceExcess": f["maintenanceExcess"],
            "sma": f["netBuyingPower"],
            "maintReq": f["maintReq"],
            "netBuyingPower": f["netBuyingPower"],
            "stockBuyingPower": f["stockBuyingPower"],
            "dayTradeBuyingPower": f["dayTradeBuyingPower"],
            "optionBuyingPower": f["optionBuyingPower"],
            "totalEquity": f["equity"],
            "pendingOrdersCount": figures["working"],
        }
        for key, value in balance.items():
            account.setdefault(key, value)
        del account["accountId"]
        return account

    def equity_at(self, t: float, price_at: Callable[[str, float], Decimal]) -> Decimal:
        """Equity at Unix time `t` from the fills up to then and the prices at `t`."""
        entry = self.history[0]
        for candidate in self.history:
            if candidate[0] > t:
                break
            entry = candidate
        _, cash, quantities = entry
        with exact():
            return cash + sum(
                (qty * price_at(symbol, t) for symbol, qty in quantities.items()), ZERO
            )
