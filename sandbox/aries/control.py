"""The simulated Aries upstream's control API under `/_sandbox/aries` (loopback only,
errors as the rest of `/_sandbox`: `{"success": false, "error", "code", "details"}`).

Control API (every body validated whole before anything changes; a bad value answers
400 INVALID_REQUEST naming the field in `details.field`):

- `GET /_sandbox/aries`: settings (`sandbox.aries.config`), price overrides and open
  connections; `POST /_sandbox/aries`: change settings, inject faults;
- `POST /_sandbox/aries/users` `{"accounts": N, "cash"?, "account_type"?}` -> user id,
  tokens, account ids; `GET /_sandbox/aries/users/{user_id}`: their accounts (snapshot
  shape), orders and watchlists;
- `POST /_sandbox/aries/orders` `{"account_id", "symbol", "side", "qty", "type",
  "price"?, "stop_price"?, "time_in_force"?, "client_order_id"?}` -> `ord_id`;
  `GET /_sandbox/aries/orders/{ord_id}`; `POST .../orders/{ord_id}/cancel`;
  `POST .../orders/{ord_id}/replace` `{"qty"?, "price"?}`; `POST .../orders/expire`
  `{"account_id"?}` expires working DAY orders now;
- `POST /_sandbox/aries/prices` `{"symbol", "price"}` (a decimal string, or null to go
  back to synth's price);
- `POST /_sandbox/aries/watchlists` `{"user_id", "action": add|update|remove,
  "symbol", "watchlist_id"?}`;
- `POST /_sandbox/aries/news` `{"headline", "summary"?, "source"?, "symbols"?,
  "topics"?}` publishes a news item now.
"""

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from sandbox.aries.accounts import ACCOUNT_TYPES
from sandbox.aries.book import DEFAULT_CASH, DEFAULT_WATCHLIST, AriesBook
from sandbox.aries.config import config_json, parse_changes
from sandbox.aries.inputs import (
    amount,
    choice,
    invalid,
    json_body,
    loopback_only,
    ok,
    only,
    strings,
    text,
)
from sandbox.aries.money import fmt
from sandbox.aries.news import news_item
from sandbox.aries.orders import SIDES, TIME_IN_FORCE, TYPES
from sandbox.aries.prices import tradable
from sandbox.aries.runtime import RUNTIME_KEY, Runtime
from sandbox.settings import integer
from sandbox.state.errors import SandboxError

__all__ = ["control_routes"]

CONTROL_PREFIX = "/_sandbox/aries"
MAX_ACCOUNTS = 50
MAX_TEXT = 2_000


def _runtime(request: web.Request) -> Runtime:
    return request.config_dict[RUNTIME_KEY]


def _book(request: web.Request) -> AriesBook:
    return _runtime(request).state.aries


# --- settings and faults ------------------------------------------------------------


def _overview(runtime: Runtime) -> dict[str, Any]:
    book = runtime.state.aries
    return {
        "config": config_json(book.config),
        "prices": book.prices.overrides_json(runtime.now()),
        "users": len(book.users),
        "connections": runtime.hub.connections_json(),
    }


async def _settings_get(request: web.Request) -> web.Response:
    return ok(_overview(_runtime(request)))


async def _settings_set(request: web.Request) -> web.Response:
    body = await json_body(request)
    changes = parse_changes(body)
    runtime = _runtime(request)
    await runtime.apply(changes)
    return ok(_overview(runtime))


# --- users --------------------------------------------------------------------------


async def _user_create(request: web.Request) -> web.Response:
    body = await json_body(request)
    only(body, ("accounts", "cash", "account_type"))
    accounts = integer("accounts", body.get("accounts", 1), 1, MAX_ACCOUNTS)
    cash = amount(body, "cash", required=False, positive=False)
    if cash is not None and cash < 0:
        raise invalid("cash", "'cash' must not be negative")
    account_type = choice(body, "account_type", ACCOUNT_TYPES, "MARGIN")
    book = _book(request)
    user, tokens = book.user_create(
        accounts=accounts,
        cash=DEFAULT_CASH if cash is None else cash,
        account_type=account_type,
    )
    return ok(
        {
            "user_id": user.id,
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "expires_in": tokens["expires_in"],
            "account_ids": list(user.account_ids),
        }
    )


def _found(records: Mapping[str, Any], key: str, what: str, field: str) -> Any:
    """The record `key`, or 404 <WHAT>_NOT_FOUND naming it in `details[field]`."""
    record = records.get(key)
    if record is None:
        raise SandboxError(
            404, f"{what.upper()}_NOT_FOUND", f"{what} '{key}' not found", {field: key}
        )
    return record


def _user(book: AriesBook, user_id: str) -> Any:
    return _found(book.users, user_id, "User", "user_id")


async def _user_get(request: web.Request) -> web.Response:
    book = _book(request)
    user = _user(book, request.match_info["user_id"])
    return ok(
        {
            "user_id": user.id,
            "accounts": {
                account_id: book.snapshot(book.accounts[account_id])
                for account_id in user.account_ids
            },
            "watchlists": {key: list(value) for key, value in user.watchlists.items()},
        }
    )


# --- orders -------------------------------------------------------------------------


def _order(book: AriesBook, ord_id: str) -> Any:
    return _found(book.orders, ord_id, "Order", "ord_id")


async def _order_place(request: web.Request) -> web.Response:
    body = await json_body(request)
    only(
        body,
        (
            "account_id",
            "symbol",
            "side",
            "qty",
            "type",
            "price",
            "stop_price",
            "time_in_force",
            "client_order_id",
        ),
    )
    book = _book(request)
    account_id = text(body, "account_id", required=True)
    if account_id not in book.accounts:
        raise invalid("account_id", f"Unknown account '{account_id}'")
    symbol = text(body, "symbol", required=True, max_length=40)
    side = choice(body, "side", SIDES, None)
    qty = amount(body, "qty", required=True)
    kind = choice(body, "type", TYPES, "MARKET")
    price = amount(body, "price", required=kind in ("LIMIT", "STOP_LIMIT"))
    stop = amount(body, "stop_price", required=kind in ("STOP", "STOP_LIMIT"))
    if kind in ("MARKET", "STOP") and price is not None:
        raise invalid("price", f"'price' is for limit orders, not {kind}")
    if kind in ("MARKET", "LIMIT") and stop is not None:
        raise invalid("stop_price", f"'stop_price' is for stop orders, not {kind}")
    tif = choice(body, "time_in_force", TIME_IN_FORCE, "DAY")
    client_id = text(body, "client_order_id", required=False, max_length=64)
    order = _runtime(request).engine.place(
        account_id=account_id,
        symbol=symbol,
        side=side,
        type=kind,
        time_in_force=tif,
        qty=qty,
        price=price,
        stop_price=stop,
        cl_ord_id=client_id,
    )
    return ok({"ord_id": order.id, "order": order.as_json()})


async def _order_get(request: web.Request) -> web.Response:
    order = _order(_book(request), request.match_info["ord_id"])
    return ok({"order": order.as_json()})


def _not_working(order: Any, action: str) -> SandboxError:
    return SandboxError(
        409,
        "ORDER_NOT_WORKING",
        f"Order '{order.id}' is {order.status}: it cannot be {action}",
        {"ord_id": order.id, "ordStatus": order.status},
    )


def _refuse_done(order: Any, action: str) -> None:
    if not order.working or order.status == "PENDING_CANCEL":
        raise _not_working(order, action)


async def _order_cancel(request: web.Request) -> web.Response:
    order = _order(_book(request), request.match_info["ord_id"])
    _refuse_done(order, "canceled")
    _runtime(request).engine.cancel(order)
    return ok({"order": order.as_json()})


async def _order_replace(request: web.Request) -> web.Response:
    body = await json_body(request)
    only(body, ("qty", "price"))
    order = _order(_book(request), request.match_info["ord_id"])
    qty = amount(body, "qty", required=False)
    price = amount(body, "price", required=False)
    if qty is None and price is None:
        raise invalid("qty", "Give 'qty', 'price' or both")
    if price is not None and order.type not in ("LIMIT", "STOP_LIMIT"):
        raise invalid("price", f"'price' is for limit orders, not {order.type}")
    if qty is not None and qty <= order.cum_qty:
        raise invalid("qty", f"'qty' must be more than the filled {fmt(order.cum_qty)}")
    _refuse_done(order, "replaced")
    if order.status in ("PENDING_NEW", "PENDING_REPLACE"):
        raise _not_working(order, "replaced yet")
    _runtime(request).engine.replace(order, qty=qty, price=price)
    return ok({"order": order.as_json()})


async def _orders_expire(request: web.Request) -> web.Response:
    body = await json_body(request)
    only(body, ("account_id",))
    account_id = text(body, "account_id", required=False)
    if account_id is not None and account_id not in _book(request).accounts:
        raise invalid("account_id", f"Unknown account '{account_id}'")
    expired = _runtime(request).engine.expire_day_orders(account_id)
    return ok({"expired": [order.id for order in expired]})


# --- prices, watchlists, news -------------------------------------------------------


def _tradable(body: Mapping[str, Any]) -> Any:
    """The tradable symbol the body's `symbol` names; 400 when there is none."""
    symbol = text(body, "symbol", required=True, max_length=40)
    found = tradable(symbol)
    if found is None:
        raise invalid("symbol", f"Unknown symbol '{symbol}'")
    return found


async def _price_set(request: web.Request) -> web.Response:
    body = await json_body(request)
    only(body, ("symbol", "price"))
    found = _tradable(body)
    if "price" not in body:
        raise invalid("price", "'price' is required (null clears the override)")
    price = amount(body, "price", required=False)
    runtime = _runtime(request)
    runtime.price_set(found.ticker, price)
    return ok(
        {"symbol": found.ticker, "price": fmt(runtime.state.aries.price(found.ticker))}
    )


async def _watchlist_edit(request: web.Request) -> web.Response:
    body = await json_body(request)
    only(body, ("user_id", "action", "symbol", "watchlist_id"))
    book = _book(request)
    user_id = text(body, "user_id", required=True)
    action = choice(body, "action", ("ADD", "UPDATE", "REMOVE"), None).lower()
    found = _tradable(body)
    watchlist_id = text(body, "watchlist_id", required=False, max_length=64)
    user = _user(book, user_id)
    event = _runtime(request).watchlist_edit(
        user, watchlist_id or DEFAULT_WATCHLIST, action, found.ticker
    )
    if event is None:
        raise SandboxError(
            404,
            "SYMBOL_NOT_LISTED",
            f"'{found.ticker}' is not in watchlist '{watchlist_id or DEFAULT_WATCHLIST}'",
            {"field": "symbol"},
        )
    return ok({"item": event[2], "watchlists": user.watchlists})


async def _news_publish(request: web.Request) -> web.Response:
    body = await json_body(request)
    only(body, ("headline", "summary", "source", "symbols", "topics"))
    headline = text(body, "headline", required=True, max_length=MAX_TEXT)
    summary = text(body, "summary", required=False, max_length=MAX_TEXT)
    source = text(body, "source", required=False, max_length=100)
    symbols = strings(body, "symbols")
    topics = strings(body, "topics")
    runtime = _runtime(request)
    item = news_item(
        runtime.state.aries.next_news_id(),
        headline=headline,
        summary=summary or "",
        source=source or "Sandbox",
        published_at=runtime.now(),
        symbols=symbols,
        topics=topics,
    )
    runtime.hub.publish_news(runtime.state.aries, [item])
    return ok({"item": item})


def control_routes() -> list[web.RouteDef]:
    p = CONTROL_PREFIX
    routes = [
        ("GET", "", _settings_get),
        ("POST", "", _settings_set),
        ("POST", "/users", _user_create),
        ("GET", "/users/{user_id}", _user_get),
        ("POST", "/orders", _order_place),
        ("POST", "/orders/expire", _orders_expire),
        ("GET", "/orders/{ord_id}", _order_get),
        ("POST", "/orders/{ord_id}/cancel", _order_cancel),
        ("POST", "/orders/{ord_id}/replace", _order_replace),
        ("POST", "/prices", _price_set),
        ("POST", "/watchlists", _watchlist_edit),
        ("POST", "/news", _news_publish),
    ]
    return [
        web.route(method, p + path, loopback_only(handler))
        for method, path, handler in routes
    ]
