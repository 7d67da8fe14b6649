"""The simulated Aries brokerage accounts upstream.

Mounted on the sandbox's port by `sandbox.aries.routes.install` (one line in
`sandbox.orgapi.app.create_app`):

- `POST /oauth2/token` (`oauth`): refresh-token grant with rotating refresh tokens and
  HS256 JWT access tokens (`tokens`);
- `GET /v1/accounts/ws` (`hub`): the accounts WebSocket, messages in `protocol`,
  subscriptions to `account`, `pnl`, `watchlist`, `news` in `subscriptions`;
- the control API under `/_sandbox/aries` (`control`, requests read by `inputs`),
  loopback only, settings and faults in `config`.

The brokerage's state (`book.AriesBook`: users, `accounts` with positions and balances,
`orders`, watchlists, tokens, price overrides, settings) lives in `SandboxState.aries`
and is replaced by the state's reset. Orders play out on the event loop (`engine`) at
prices from `sandbox.synth` (`prices`), so fills agree with the market data API;
amounts are exact decimals (`money`); P&L candles in `pnl`, news in `news`. `runtime`
ties the hub, the engine and the state together for one app.

This `__init__` imports nothing: `sandbox.state` imports the book, and the book must
load without the rest of the sandbox.
"""
