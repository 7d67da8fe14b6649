"""The market data WebSocket gateway: `/live` and `/newsfeed` as the upstream serves them,
gated by the member's plan (see ARCHITECTURE.md for how the modules fit together)."""
