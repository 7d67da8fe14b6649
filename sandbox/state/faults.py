"""The faults the sandbox injects into its HTTP APIs, and which requests they cover."""

import dataclasses
from typing import Any, Literal

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# "mutations": Organization API writes; "market": market data REST; "all": both APIs,
# reads included.
FaultScope = Literal["mutations", "market", "all"]
FAULT_SCOPES = ("mutations", "market", "all")
FaultKind = Literal["error", "timeout", "drop"]


@dataclasses.dataclass(frozen=True, slots=True)
class Faults:
    error_rate: float = 0.0  # share of in-scope requests refused with 503, unapplied
    latency_ms: int = 0  # added before every in-scope request
    timeout_rate: float = 0.0  # share applied, then held for hang_seconds
    hang_seconds: float = 30.0
    scope: FaultScope = "mutations"
    # Retry-After (seconds) sent with injected 503s; None sends no header.
    retry_after: float | None = None
    # Share applied, then answered with the headers and half the body before the
    # connection closes: the caller sees a broken body.
    drop_rate: float = 0.0

    @property
    def active(self) -> bool:
        return bool(
            self.error_rate or self.timeout_rate or self.latency_ms or self.drop_rate
        )

    def covers(self, api: Literal["org", "market"], method: str) -> bool:
        """Whether a request to `api` with `method` is in scope."""
        if self.scope == "all":
            return True
        if api == "market":
            return self.scope == "market"
        return self.scope == "mutations" and method in MUTATING_METHODS

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
