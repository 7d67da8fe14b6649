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
from sandbox.state.store import SandboxState

MARKET_PREFIX = "/v3"


def market_app(state: SandboxState) -> web.Application:
    """The `/v3` sub-application, answering for the members of `state`."""
    app = web.Application(middlewares=[gate_middleware(state, SecondCache())])
    app[STATE_KEY] = state
    app.add_routes(
        [
            web.get("/symbols/quotes", get_quotes),
            web.get("/symbols/search", get_search),
            web.get("/symbols/exchanges", get_exchanges),
            web.get("/symbols/{symbol}/series", get_series),
            web.get("/symbols/{symbol}/history", get_history),
            web.get("/symbols/{symbol}/info", get_info),
            web.get("/symbols/{symbol}/fundamentals", get_fundamentals),
            web.get("/symbols/{symbol}/fundamentals/series", get_fundamentals_series),
            web.get("/symbols/{symbol}/contracts", get_contracts),
            web.get("/symbols/{symbol}/session", get_session),
            web.get("/newsfeed", get_newsfeed),
            web.get("/documents", get_documents),
            web.get("/calendar/{kind}", get_calendar),
            web.get("/screeners/{kind}", get_screener),
            web.get("/options/list", get_options_list),
            web.get("/options/expiration", get_options_expiration),
            web.get("/options/strike", get_options_strike),
        ]
    )
    return app
