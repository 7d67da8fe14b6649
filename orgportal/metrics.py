"""Prometheus metrics of this process, served as text at /metrics.

Counters live in the default registry of each process (web, worker); a multi-process
deployment scrapes each process.
"""

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "orgportal_http_requests_total",
    "HTTP requests served, by route and status class.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "orgportal_http_request_seconds",
    "Time to serve an HTTP request, in seconds.",
    ["method", "route"],
)
UPSTREAM_CALLS = Counter(
    "orgportal_upstream_calls_total",
    "Calls to an upstream API, by operation and outcome "
    "(ok, rejected, unavailable, unknown, retried).",
    ["upstream", "operation", "outcome"],
)
UPSTREAM_LATENCY = Histogram(
    "orgportal_upstream_call_seconds",
    "Latency of one upstream HTTP attempt, in seconds.",
    ["upstream", "operation"],
)
LEDGER_OPERATIONS = Counter(
    "orgportal_ledger_transactions_total",
    "Ledger transactions posted, by kind.",
    ["kind"],
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
