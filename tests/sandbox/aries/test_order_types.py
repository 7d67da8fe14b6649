"""Order types and the rest of the lifecycle on the `account` topic: limit and stop
orders, IOC and FOK, rejects, buying power, short sales, cancel, replace, expiry."""

import asyncio

import pytest

from tests.sandbox.aries.conftest import (
    account_events_until,
    configure,
    limit,
    names,
    new_user,
    open_session,
    order_of,
    place,
    set_price,
    subscribe,
    wait_for_order,
    watch_account,
)

# --- limit, stop, IOC, FOK ----------------------------------------------------------


async def test_a_limit_buy_rests_holds_funds_then_fills_when_the_price_crosses(
    control, ws_url, trader
):
    # given
    set_price(control, "AAPL", "150.00")
    ws, account_id = await watch_account(ws_url, trader)
    ord_id = limit(control, account_id, "BUY", "10", "149.00", time_in_force="GTC")
    working = await account_events_until(ws, ord_id, "NEW")

    # when: a few steps pass with the price above the limit, then it drops
    await asyncio.sleep(0.1)
    assert order_of(control, ord_id)["ordStatus"] == "NEW"
    set_price(control, "AAPL", "148.50")
    events = await account_events_until(ws, ord_id, "FILLED")

    # then
    held = working[-1]["data"]
    assert held["heldBackFunds"] == "1490.00"
    assert held["pendingOrdersCount"] == 1
    fills = [e["data"] for e in events if e["name"] == "account.order"]
    assert [f["cumQty"] for f in fills] == ["3", "6", "10"]
    assert fills[-1]["avgPrice"] == "148.50" and fills[-1]["price"] == "149.00"
    assert events[-1]["data"]["heldBackFunds"] == "0"
    await ws.close()


@pytest.mark.parametrize(
    ("side", "stop", "after", "fills_at"),
    [("SELL", "140.00", "139.00", "139.00"), ("BUY", "160.00", "161.00", "161.00")],
)
async def test_a_stop_order_waits_for_its_stop_then_fills_at_market(
    control, trader, side, stop, after, fills_at
):
    # given
    account_id = trader["account_ids"][0]
    set_price(control, "AAPL", "150.00")
    if side == "SELL":
        wait_for_order(
            control,
            place(control, account_id, "BUY", "5"),
            "FILLED",
        )
    ord_id = place(control, account_id, side, "5", type="STOP", stop_price=stop)
    wait_for_order(control, ord_id, "NEW")

    # when
    set_price(control, "AAPL", after)
    filled = wait_for_order(control, ord_id, "FILLED")

    # then
    assert filled["avgPrice"] == fills_at and filled["stopPrice"] == stop


@pytest.mark.parametrize("tif", ["IOC", "FOK"])
async def test_ioc_and_fok_fill_whole_at_once_or_cancel(control, trader, tif):
    account_id = trader["account_ids"][0]

    marketable = limit(control, account_id, "BUY", "9", "151.00", time_in_force=tif)
    not_marketable = limit(control, account_id, "BUY", "9", "100.00", time_in_force=tif)

    assert wait_for_order(control, marketable, "FILLED")["avgPrice"] == "150.45"
    canceled = wait_for_order(control, not_marketable, "CANCELED")
    assert canceled["cumQty"] == "0" and canceled["leavesQty"] == "0"


# --- rejects ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_fields", "order", "reason"),
    [
        (
            {"cash": "1000.00"},
            {"symbol": "AAPL", "side": "BUY", "qty": "100"},
            "insufficient buying power",
        ),
        ({}, {"symbol": "ZZZZ", "side": "BUY", "qty": "1"}, "unknown symbol: ZZZZ"),
        ({}, {"symbol": "AAPL", "side": "SELL", "qty": "1"}, "insufficient position"),
        (
            {},
            {"symbol": "AAPL", "side": "BUY_TO_COVER", "qty": "1"},
            "insufficient position",
        ),
        (
            {"account_type": "CASH"},
            {"symbol": "AAPL", "side": "SELL_SHORT", "qty": "1"},
            "short sales need a margin account",
        ),
    ],
)
async def test_rejects_are_events_with_a_reason(
    control, ws_url, fast, user_fields, order, reason
):
    # given
    user = new_user(control, **user_fields)
    set_price(control, "AAPL", "150.00")
    ws, account_id = await watch_account(ws_url, user)

    # when
    ord_id = place(control, account_id=account_id, **order)
    events = await account_events_until(ws, ord_id, "REJECTED")

    # then
    assert names(events) == [
        ("account.order", "PENDING_NEW"),
        ("account.balance", None),
        ("account.order", "REJECTED"),
        ("account.balance", None),
    ]
    assert events[2]["data"]["rejectReason"] == reason
    assert events[-1]["data"]["pendingOrdersCount"] == 0
    await ws.close()


async def test_buying_power_is_twice_cash_on_margin(control, fast):
    user = new_user(control, cash="1000.00")
    account_id = user["account_ids"][0]
    set_price(control, "AAPL", "100.00")

    ok = place(control, account_id, "BUY", "20")
    too_much = place(control, account_id, "BUY", "1")

    assert wait_for_order(control, ok, "FILLED")["cumQty"] == "20"
    assert wait_for_order(control, too_much, "REJECTED")
    account = control.get(f"/_sandbox/aries/users/{user['user_id']}").json()[
        "accounts"
    ][account_id]["account"]
    assert account["grossMargin"] == "1000.00"
    assert account["cashAvailable"] == "-1000.00"


async def test_a_short_sale_then_cover_returns_to_flat_with_exact_pnl(control, trader):
    account_id = trader["account_ids"][0]
    set_price(control, "AAPL", "150.00")
    short = place(control, account_id, "SELL_SHORT", "10")
    wait_for_order(control, short, "FILLED")
    set_price(control, "AAPL", "140.25")

    cover = place(control, account_id, "BUY_TO_COVER", "10")
    wait_for_order(control, cover, "FILLED")

    account = control.get(f"/_sandbox/aries/users/{trader['user_id']}").json()[
        "accounts"
    ][account_id]
    assert account["positions"] == []
    assert account["account"]["realizedPL"] == "97.50"
    assert account["account"]["totalEquity"] == "100097.50"


# --- cancel, replace, expire --------------------------------------------------------


async def resting(control, account_id, **extra) -> str:
    """A limit buy of 10 AAPL at 100.00, accepted and working."""
    ord_id = limit(control, account_id, "BUY", "10", "100.00", **extra)
    wait_for_order(control, ord_id, "NEW")
    return ord_id


async def test_cancel_passes_pending_cancel_and_frees_the_hold(control, ws_url, trader):
    # given
    ord_id = await resting(control, trader["account_ids"][0])
    ws, _ = await watch_account(ws_url, trader)

    # when
    response = control.post(f"/_sandbox/aries/orders/{ord_id}/cancel")
    events = await account_events_until(ws, ord_id, "CANCELED")
    again = control.post(f"/_sandbox/aries/orders/{ord_id}/cancel")

    # then
    assert response.status_code == 200
    assert names(events) == [
        ("account.order", "PENDING_CANCEL"),
        ("account.balance", None),
        ("account.order", "CANCELED"),
        ("account.balance", None),
    ]
    assert events[1]["data"]["heldBackFunds"] == "1000.00"
    assert events[-1]["data"]["heldBackFunds"] == "0"
    assert again.status_code == 409 and again.json()["code"] == "ORDER_NOT_WORKING"
    await ws.close()


async def test_replace_changes_price_and_qty_then_fills(control, ws_url, trader):
    # given
    ord_id = await resting(control, trader["account_ids"][0])
    ws, _ = await watch_account(ws_url, trader)

    # when
    response = control.post(
        f"/_sandbox/aries/orders/{ord_id}/replace",
        json={"qty": "12", "price": "151.00"},
    )
    events = await account_events_until(ws, ord_id, "FILLED")

    # then
    assert response.status_code == 200
    statuses = [s for n, s in names(events) if n == "account.order"]
    assert statuses[:2] == ["PENDING_REPLACE", "NEW"]
    assert statuses[-1] == "FILLED"
    replaced = events[2]["data"]
    assert (replaced["qty"], replaced["price"]) == ("12", "151.00")
    assert events[-3]["data"]["cumQty"] == "12"
    await ws.close()


async def test_day_orders_expire_on_request_and_gtc_orders_stay(control, trader):
    account_id = trader["account_ids"][0]
    day = await resting(control, account_id)
    gtc = await resting(control, account_id, time_in_force="GTC")

    response = control.post("/_sandbox/aries/orders/expire", json={})

    assert response.json()["expired"] == [day]
    assert order_of(control, day)["ordStatus"] == "EXPIRED"
    assert order_of(control, gtc)["ordStatus"] == "NEW"


async def test_day_orders_expire_once_the_clock_passes_the_set_time(control, trader):
    account_id = trader["account_ids"][0]
    day = await resting(control, account_id)
    gtc = await resting(control, account_id, time_in_force="GTC")

    configure(control, day_orders_expire_at="2000-01-01T21:00:00Z")

    assert wait_for_order(control, day, "EXPIRED")["leavesQty"] == "0"
    assert order_of(control, gtc)["ordStatus"] == "NEW"


async def test_events_go_only_to_the_accounts_subscribers(control, ws_url, trader):
    # given: a second account of the same user, and another user
    other = new_user(control, accounts=2)
    mine, theirs = other["account_ids"]
    ws = await open_session(ws_url, other["access_token"])
    await subscribe(ws, "account", {"accountId": mine})

    # when
    place(control, theirs, "BUY", "1")
    place(control, trader["account_ids"][0], "BUY", "1")
    ord_id = place(control, mine, "BUY", "1")
    events = await account_events_until(ws, ord_id, "FILLED")

    # then
    assert {e["target"] for e in events} == {f"account:{mine}"}
    await ws.close()
