"""The `/v3` sub-application and its routes."""

from aiohttp import web

from sandbox.market.context import STATE_KEY
from sandbox.market.feeds import get_calendar, get_documents, get_newsfeed
from sandbox.market.gate import SecondCache, gate_middleware
from sandbox.market.options import (
    get_options_expiration,
    get_options_list,
    get_options_strike,
)
from sandbox.market.screeners import get_screener
from sandbox.market.series import get_history, get_series
from sandbox.market.symbols import (
    get_contracts,
    get_exchanges,
    get_fundamentals,
    get_fundamentals_series,
    get_info,
    get_quotes,
    get_search,
    get_session,
)
from sandbox.orgapi.context import sub_app
from sandbox.state.store import SandboxState

MARKET_PREFIX = "/v3"


def market_app(state: SandboxState) -> web.Application:
    """The `/v3` sub-application, answering for the members of `state`."""
    app = sub_app(
        [
            ("GET", "/symbols/quotes", get_quotes),
            ("GET", "/symbols/search", get_search),
            ("GET", "/symbols/exchanges", get_exchanges),
            ("GET", "/symbols/{symbol}/series", get_series),
            ("GET", "/symbols/{symbol}/history", get_history),
            ("GET", "/symbols/{symbol}/info", get_info),
            ("GET", "/symbols/{symbol}/fundamentals", get_fundamentals),
            ("GET", "/symbols/{symbol}/fundamentals/series", get_fundamentals_series),
            ("GET", "/symbols/{symbol}/contracts", get_contracts),
            ("GET", "/symbols/{symbol}/session", get_session),
            ("GET", "/newsfeed", get_newsfeed),
            ("GET", "/documents", get_documents),
            ("GET", "/calendar/{kind}", get_calendar),
            ("GET", "/screeners/{kind}", get_screener),
            ("GET", "/options/list", get_options_list),
            ("GET", "/options/expiration", get_options_expiration),
            ("GET", "/options/strike", get_options_strike),
        ],
        [gate_middleware(state, SecondCache())],
    )
    app[STATE_KEY] = state
    return app
