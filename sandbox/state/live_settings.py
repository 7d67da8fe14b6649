"""What the simulated market data WebSockets are set to do (`sandbox.live` does it)."""

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class LiveConfig:
    """Settings and injected faults of the simulated market data WebSockets (`/live`,
    `/newsfeed`; `sandbox.live`). Deadlines are `time.monotonic()` values."""

    updates_per_second: float = 1.0  # updates of every stream, 0.1-1000
    # "spread": each stream ticks at its own phase of the period (as independent
    # instruments do); "aligned": every stream at the same instant (the worst burst).
    phases: str = "spread"
    heartbeat_seconds: float = 10.0
    news_every_seconds: float | None = None  # None: as often as synth publishes
    auth_timeout_seconds: float = 30.0
    org_ws_symbols: int = 100  # subscriptions allowed to the organization key
    org_ws_connections: int = 10
    # Subscription messages one key may send in the sliding window.
    subscription_rate_limit: int = 300
    subscription_rate_window_seconds: float = 300.0
    garbage_rate: float = 0.0  # share of data frames replaced by a non-JSON frame
    refuse_until: float = 0.0  # new upgrades answered 503 until then
    stall_until: float = 0.0  # open connections send nothing until then
