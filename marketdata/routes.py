"""The route patterns of the market data REST API, as metric labels.

A label is the pattern a path matches (written as Django writes its routes), never the
raw path: that carries a symbol, and a label per symbol would grow without bound.
"""

from orgportal.middleware import UNMATCHED_ROUTE

_FIXED_ROUTES = {
    path: f"v3/{path}"
    for path in (
        "symbols/quotes",
        "symbols/search",
        "symbols/exchanges",
        "newsfeed",
        "documents",
        "options/list",
        "options/expiration",
        "options/strike",
    )
}
_SYMBOL_ROUTES = {
    tail: f"v3/symbols/<symbol>/{tail}"
    for tail in (
        "series",
        "history",
        "info",
        "fundamentals",
        "fundamentals/series",
        "contracts",
        "session",
    )
}
_KIND_ROUTES = {name: f"v3/{name}/<kind>" for name in ("calendar", "screeners")}


def route_template(path: str) -> str:
    """The route pattern a `/v3/...` path matches, or "unmatched"."""
    rest = path[4:]
    fixed = _FIXED_ROUTES.get(rest)
    if fixed is not None:
        return fixed
    head, _, tail = rest.partition("/")
    if head == "symbols":
        symbol, _, endpoint = tail.partition("/")
        if symbol:
            return _SYMBOL_ROUTES.get(endpoint, UNMATCHED_ROUTE)
    elif head in _KIND_ROUTES and tail and "/" not in tail:
        return _KIND_ROUTES[head]
    return UNMATCHED_ROUTE
