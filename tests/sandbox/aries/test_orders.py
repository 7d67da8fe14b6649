"""Order lifecycles on the `account` topic: the snapshot, then order, position and
balance events in order, with exact decimal arithmetic from the fills."""

from decimal import Decimal

from tests.sandbox.aries.conftest import (
    account_events_until,
    is_event,
    limit,
    names,
    new_user,
    next_where,
    open_session,
    order_of,
    place,
    set_price,
    subscribe,
    wait_for_order,
    watch_account,
)

ACCOUNT_FIELDS = [
    "accountNumber",
    "accountType",
    "accountClass",
    "optionsLevel",
    "cashAvailable",
    "netLiquidity",
    "marginEquity",
    "maintenanceExcess",
    "sma",
    "maintReq",
    "netBuyingPower",
    "stockBuyingPower",
    "dayTradeBuyingPower",
    "optionBuyingPower",
    "totalEquity",
    "pendingOrdersCount",
]
ORDER_FIELDS = [  # as the docs list them; the legacy `orders` carry the first ten
    "ordId",
    "clOrdId",
    "accountId",
    "symbol",
    "side",
    "type",
    "timeInForce",
    "qty",
    "price",
    "ordStatus",
    "cumQty",
    "leavesQty",
    "avgPrice",
    "currency",
    "exDestination",
    "securityType",
    "category",
    "createdAt",
    "updatedAt",
]
POSITION_FIELDS = {
    "accountId",
    "symbol",
    "securityType",
    "qty",
    "avgPrice",
    "avgCost",
    "unRealizedPL",
    "todayRealizedPnL",
    "realizedPL",
    "todayPL",
    "instrument",
    "createdAt",
    "updatedAt",
}


# --- the snapshot -------------------------------------------------------------------


async def test_the_account_snapshot_has_the_docs_shape(control, ws_url, trader):
    # given
    account_id = trader["account_ids"][0]
    ord_id = place(control, account_id, "BUY", "100")
    wait_for_order(control, ord_id, "FILLED")
    ws = await open_session(ws_url, trader["access_token"])

    # when
    reply = await subscribe(ws, "account", {"accountId": account_id})

    # then
    assert reply["type"] == "subscribed" and reply["id"] == "req-002"
    payload = reply["payload"]
    assert payload["status"] == 200 and payload["topic"] == "account"
    assert payload["params"] == {"accountId": account_id}
    data = payload["data"]
    assert list(data) == ["account", "positions", "orders", "ordersV2"]
    account = data["account"]
    assert list(account)[: len(ACCOUNT_FIELDS)] == ACCOUNT_FIELDS
    assert account["accountNumber"] == account_id
    assert account["accountType"] == "MARGIN"
    assert account["cashAvailable"] == "84955.00"
    assert account["totalEquity"] == account["netLiquidity"] == "100000.00"
    assert account["maintReq"] == "3761.2500"  # 25% of 15045.00
    assert account["pendingOrdersCount"] == 0
    assert all(
        isinstance(v, str) for k, v in account.items() if k != "pendingOrdersCount"
    )
    [position] = data["positions"]
    assert set(position) == POSITION_FIELDS
    assert position["qty"] == "100" and position["avgPrice"] == "150.45"
    assert position["unRealizedPL"] == "0.00"
    [legacy] = data["orders"]
    assert list(legacy) == ORDER_FIELDS[:10]
    assert legacy["ordStatus"] == "FILLED"
    [full] = data["ordersV2"]
    assert set(full) == set(ORDER_FIELDS) and full["avgPrice"] == "150.45"
    await ws.close()


# --- a full lifecycle ---------------------------------------------------------------


async def test_a_market_buy_fills_in_steps_with_events_in_order(
    control, ws_url, trader
):
    # given
    ws, account_id = await watch_account(ws_url, trader)

    # when
    ord_id = place(
        control, account_id, "BUY", "100", type="MARKET", client_order_id="CLIENT-001"
    )
    events = await account_events_until(ws, ord_id, "FILLED")

    # then
    assert names(events) == [
        ("account.order", "PENDING_NEW"),
        ("account.balance", None),
        ("account.order", "NEW"),
        ("account.balance", None),
        ("account.order", "PARTIALLY_FILLED"),
        ("account.position", None),
        ("account.balance", None),
        ("account.order", "PARTIALLY_FILLED"),
        ("account.position", None),
        ("account.balance", None),
        ("account.order", "FILLED"),
        ("account.position", None),
        ("account.balance", None),
    ]
    assert all(e["target"] == f"account:{account_id}" for e in events)
    fills = [
        e["data"]
        for e in events
        if e["data"].get("ordStatus") in ("PARTIALLY_FILLED", "FILLED")
    ]
    assert [(f["cumQty"], f["leavesQty"]) for f in fills] == [
        ("33", "67"),
        ("66", "34"),
        ("100", "0"),
    ]
    filled = fills[-1]
    assert set(filled) == set(ORDER_FIELDS)
    assert filled["clOrdId"] == "CLIENT-001" and filled["avgPrice"] == "150.45"
    assert filled["price"] == "0" and filled["type"] == "MARKET"
    positions = [e["data"] for e in events if e["name"] == "account.position"]
    assert [p["qty"] for p in positions] == ["33", "66", "100"]
    assert positions[-1]["avgPrice"] == positions[-1]["avgCost"] == "150.45"
    balance = events[-1]["data"]
    assert balance["accountId"] == account_id
    assert balance["valueBought"] == "15045.00"
    assert balance["settledFunds"] == "84955.00"
    assert balance["totalEquity"] == "100000.00"
    assert balance["stockBuyingPower"] == "169910.00"
    assert balance["pendingOrdersCount"] == 0
    await ws.close()


async def test_a_round_trip_realizes_exactly_and_final_positions_equal_the_fills(
    control, ws_url, trader
):
    # given
    account_id = trader["account_ids"][0]
    buy = place(control, account_id, "BUY", "100")
    wait_for_order(control, buy, "FILLED")
    ws = await open_session(ws_url, trader["access_token"])
    await subscribe(ws, "account", {"accountId": account_id})

    # when: the price moves, then 40 are sold
    set_price(control, "AAPL", "152.10")
    moved = await next_where(ws, is_event("account", "account.position"))
    sell = place(control, account_id, "SELL", "40")
    events = await account_events_until(ws, sell, "FILLED")

    # then
    assert moved["payload"]["data"]["unRealizedPL"] == "165.00"  # 100 × 1.65
    position = [e for e in events if e["name"] == "account.position"][-1]["data"]
    assert position["qty"] == "60"
    assert position["avgPrice"] == "150.45"
    assert position["realizedPL"] == position["todayRealizedPnL"] == "66.00"
    assert position["unRealizedPL"] == "99.00"  # 60 × 1.65
    balance = events[-1]["data"]
    assert balance["valueSold"] == "6084.00"
    assert balance["realizedPL"] == "66.00"
    # cash 100000.00 - 15045.00 + 6084.00; equity = cash + 60 × 152.10
    assert balance["settledFunds"] == "91039.00"
    assert balance["totalEquity"] == "100165.00"
    snapshot = control.get(f"/_sandbox/aries/users/{trader['user_id']}").json()
    [held] = snapshot["accounts"][account_id]["positions"]
    bought, sold = (Decimal(order_of(control, o)["cumQty"]) for o in (buy, sell))
    assert Decimal(held["qty"]) == bought - sold
    await ws.close()


async def test_extreme_decimals_survive_byte_for_byte(control, ws_url, fast):
    # given
    user = new_user(control, cash="100000.00")
    set_price(control, "MSFT", "123456789.123456789")
    ws, account_id = await watch_account(ws_url, user)

    # when
    ord_id = limit(
        control, account_id, "BUY", "0.00000001", "123456789.123456789", symbol="MSFT"
    )
    events = await account_events_until(ws, ord_id, "FILLED")

    # then: one fill of the smallest step
    assert names(events)[-3:] == [
        ("account.order", "FILLED"),
        ("account.position", None),
        ("account.balance", None),
    ]
    order = events[-3]["data"]
    assert order["qty"] == "0.00000001" and order["cumQty"] == "0.00000001"
    assert order["price"] == order["avgPrice"] == "123456789.123456789"
    position = events[-2]["data"]
    assert position["qty"] == "0.00000001"
    assert position["avgPrice"] == "123456789.123456789"
    balance = events[-1]["data"]
    assert balance["valueBought"] == "1.23456789123456789"
    assert balance["settledFunds"] == "99998.76543210876543211"
    assert balance["totalEquity"] == "100000.00000000000000000"
    await ws.close()


async def test_an_average_that_does_not_terminate_rounds_and_equity_stays_exact(
    control, fast
):
    # given
    user = new_user(control)
    account_id = user["account_ids"][0]

    # when: 1 at 1.00 and 2 at 2.00, then 1 sold at 3.00
    for qty, price in (("1", "1.00"), ("2", "2.00")):
        set_price(control, "NVDA", price)
        wait_for_order(
            control,
            place(control, account_id, "BUY", qty, symbol="NVDA"),
            "FILLED",
        )
    set_price(control, "NVDA", "3.00")
    wait_for_order(
        control,
        place(control, account_id, "SELL", "1", symbol="NVDA"),
        "FILLED",
    )

    # then
    snapshot = control.get(f"/_sandbox/aries/users/{user['user_id']}").json()
    [position] = snapshot["accounts"][account_id]["positions"]
    assert position["qty"] == "2"
    # the cost of the one sold is 5.00 / 3 rounded to ten places; what is left,
    # 3.3333333333 for 2, averages exactly
    assert position["avgPrice"] == "1.66666666665"
    assert position["realizedPL"] == "1.3333333333"
    realized = Decimal(position["realizedPL"])
    unrealized = Decimal(position["unRealizedPL"])
    # bought 1 at 1.00 and 2 at 2.00, sold 1 at 3.00, 2 held at 3.00: 3 + 6 - 5
    assert realized + unrealized == Decimal("4.00")
    account = snapshot["accounts"][account_id]["account"]
    assert Decimal(account["totalEquity"]) == Decimal("100004.00")
