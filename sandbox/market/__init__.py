"""The simulated InsightSentry market data REST API: `/v3/...`.

`app.market_app(state)` is mounted by `sandbox.orgapi.app.create_app` beside the
Organization API, on the same port. One middleware does what every request needs, in this order:

1. member key (`Authorization: Bearer <member api_key>`): 401 UNAUTHORIZED if missing
   or unknown, 403 SUBSCRIPTION_INACTIVE if the member is cancelled or expired;
2. injected faults (scope "market" or "all"): latency, 503 SANDBOX_FAULT (not counted);
3. the plan's rate limit (429 RATE_LIMITED with Retry-After) and monthly quota
   (429 QUOTA_EXCEEDED), counting the request;
4. the handler; a refusal from it (400, 403, 404) uncounts the request;
5. the applied faults: a held answer (timeout) or a body cut off mid-way (drop).

That middleware is `gate`; the handlers are grouped by resource (`series`, `symbols`,
`feeds`, `screeners`, `options`) on `context` (what every handler shares) and `params`
(query parsing).

Handlers parse parameters and turn `sandbox.synth` data into JSON bytes. It has to be
fast (the gateway's benchmark must not be measuring this), so identical requests within
one second (same path and query, same feature tier) get the cached bytes, and series
rows are written without a generic JSON encoder.

Errors are the upstream's shape: `{"error": ..., "code": ..., "details": {...}}`.
"""
