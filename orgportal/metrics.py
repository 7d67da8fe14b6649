"""Prometheus metrics of this process, served as text at /metrics.

Counters live in the default registry of each process (web, worker); a multi-process
deployment scrapes each process.
"""

from prometheus_client import Counter, Gauge, Histogram


def _calls(
    stem: str, labels: list[str], result: str, *, counted: str, timed: str
) -> tuple[Counter, Histogram]:
    """`{stem}s_total`, calls by `labels` and their `result`, and `{stem}_seconds`,
    their latency by `labels`."""
    return (
        Counter(f"{stem}s_total", counted, [*labels, result]),
        Histogram(f"{stem}_seconds", timed, labels),
    )


HTTP_REQUESTS, HTTP_LATENCY = _calls(
    "orgportal_http_request",
    ["method", "route"],
    "status",
    counted="HTTP requests served, by route and status class.",
    timed="Time to serve an HTTP request, in seconds.",
)
UPSTREAM_CALLS, UPSTREAM_LATENCY = _calls(
    "orgportal_upstream_call",
    ["upstream", "operation"],
    "outcome",
    counted="Calls to an upstream API, by operation and outcome "
    "(ok, rejected, unavailable, unknown, retried).",
    timed="Latency of one upstream HTTP attempt, in seconds.",
)
LEDGER_OPERATIONS = Counter(
    "orgportal_ledger_transactions_total",
    "Ledger transactions posted, by kind.",
    ["kind"],
)
WALLET_LOCK_SECONDS = Histogram(
    "orgportal_wallet_lock_seconds",
    "How long a committed transaction held the wallet row: from its first wallet "
    "statement to its commit, in seconds.",
    buckets=(0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03)
    + (0.05, 0.075, 0.1, 0.25, 1.0),
)
MEMBER_OPERATIONS = Counter(
    "orgportal_member_operations_total",
    "Member operations against the upstream, by kind and final status.",
    ["kind", "status"],
)
MARKET_SPECULATIVE = Counter(
    "orgportal_market_speculative_calls_total",
    "Market data upstream calls started before the limiter's verdict, by outcome: "
    "forwarded (allowed, answered) or wasted (refused, stale or limiter error: the "
    "upstream answer was dropped unseen).",
    ["outcome"],
)

# --- market data WebSockets (/live, /newsfeed) ------------------------------------------
WS_CONNECTIONS = Gauge(
    "orgportal_ws_connections",
    "Open member WebSocket connections of this process, by path.",
    ["path"],
)
WS_SUBSCRIPTIONS = Gauge(
    "orgportal_ws_subscriptions",
    "Subscriptions held by the open /live connections of this process.",
)
WS_UPSTREAM_STREAMS = Gauge(
    "orgportal_ws_upstream_streams",
    "Distinct upstream streams this process receives (pooled mode), or upstream "
    "connections (member mode).",
    ["mode"],
)
WS_REFUSALS = Counter(
    "orgportal_ws_refusals_total",
    "WebSocket connections or subscription messages refused, by reason.",
    ["reason"],
)
WS_DELIVERIES = Counter(
    "orgportal_ws_deliveries_total",
    "Data frames handed to member WebSocket connections.",
)
WS_CONFLATED = Counter(
    "orgportal_ws_conflated_total",
    "Data frames replaced by a newer frame of the same series before a slow client "
    "read them.",
)
WS_SLOW_CLOSES = Counter(
    "orgportal_ws_slow_client_closes_total",
    "Member WebSocket connections closed for falling too far behind.",
)
WS_UPSTREAM_RECONNECTS = Counter(
    "orgportal_ws_upstream_reconnects_total",
    "Upstream WebSocket connections lost and reopened, by cause.",
    ["cause"],
)
WS_FANOUT_LAG = Histogram(
    "orgportal_ws_fanout_lag_seconds",
    "From an upstream frame's arrival to its hand-off to the last subscriber's buffer.",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
)

# --- account streams (/v1/accounts/ws) ------------------------------------------------
ACCOUNT_CONNECTIONS = Gauge(
    "orgportal_account_ws_connections",
    "Open member connections to /v1/accounts/ws in this process.",
)
ACCOUNT_SESSIONS = Gauge(
    "orgportal_account_ws_upstream_sessions",
    "Upstream Aries account sessions of this process (one per member with clients).",
)
ACCOUNT_EVENTS = Counter(
    "orgportal_account_ws_events_total",
    "Account, P&L, watchlist and news events handed to member connections.",
)
ACCOUNT_DENIED = Counter(
    "orgportal_account_ws_access_denied_total",
    "Subscriptions refused and upstream events withheld because the account is not "
    "linked to the member.",
)
ACCOUNT_REAUTHS = Counter(
    "orgportal_account_ws_upstream_reauths_total",
    "Upstream re-authentications with a refreshed brokerage token, by outcome.",
    ["outcome"],
)
