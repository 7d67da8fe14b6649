"""The simulated InsightSentry Organization API, and the sandbox's control API.

`app.create_app(state)` builds one aiohttp application: the Organization API under
`/api/organization/` (`organization`: organization key, fault injection from `faults`),
the market data REST API under `/v3/` (member keys; `sandbox.market`), the market data
WebSockets `/live` and `/newsfeed` (`sandbox.live`) and the control API under
`/_sandbox/` (`control`: no key, loopback only). Other simulated upstreams are added the
same way: a sub-application with its own auth middleware plus fault injection.

Handlers only parse (`inputs`) and serialise; the rules live in
`sandbox.state.store.SandboxState`. Importable without Django settings.
"""
