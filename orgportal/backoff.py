"""The one retry-wait rule of the upstream clients: exponential backoff with full
jitter (a random wait in [0, min(cap, base * 2^attempt)]), unless the upstream said
how long to wait (`Retry-After`), which is honoured up to the cap. Seconds."""

import random


def full_jitter(
    attempt: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """The wait before attempt `attempt + 1` (attempt 0 is the first retry's)."""
    if retry_after is not None:
        return min(cap, retry_after)
    ceiling = min(cap, base * 2 ** min(attempt, 60))
    return (rng or random).uniform(0, ceiling)  # noqa: S311 - jitter, not secrecy
