"""When the gateway may send the upstream request before the limiter has answered.

Speculative forwarding (Redis limiter only): the limiter's round trip (0.2–0.3 ms on an
idle loopback Redis) would otherwise sit in front of every upstream call. When this
process's last verdict for the member is under SPECULATE_MAX_AGE_S old and showed
comfortable headroom, the upstream request is sent at the same time as the limiter call;
its answer reaches the client only once the limiter has allowed the request. The trade:
on a refusal (rate, quota, a member changed in another process) or a limiter error, the
upstream has received one request the client never sees. That waste is bounded by the
member's concurrency (and by the remembered headroom, which each speculation uses up),
which is why speculation only happens with headroom, where refusals are rare; wasted
calls are counted (orgportal_market_speculative_calls_total{outcome="wasted"}). A client
never gets more than its limits: nothing is sent to it before the verdict.

The policy here is pure (no I/O): it remembers verdicts and answers yes or no. The
gateway does the sending, the waiting and the abandoning.
"""

import time
from collections import OrderedDict
from collections.abc import Callable

# Speculate only on a verdict this recent: a member that made a request in the last
# second is an active client (the latency-sensitive ones call many times a second), and
# within one second the 60-second window cannot drain far: 5 requests of headroom take
# other processes 5 requests in that second to use up. The limiter still decides every
# request; the age and headroom only keep the wasted upstream calls rare.
SPECULATE_MAX_AGE_S = 1.0
SPECULATE_MIN_REMAINING = 5  # and at least 20% of the member's rate limit
SPECULATE_MIN_QUOTA_LEFT = 20
# Members remembered at most; past it the least recently seen is forgotten (its next
# request counts first, then forwards, and is remembered again).
MEMO_MAX = 100_000


class SpeculationPolicy:
    """This process's last limiter verdict per member, and what it allows.

    `access` is the member's record (member_id, rate_limit, quota: 0 is unlimited),
    `decision` the limiter's verdict (allowed, reason, remaining, quota_used)."""

    __slots__ = ("_memo", "_maxsize", "_clock")

    def __init__(
        self, maxsize: int = MEMO_MAX, clock: Callable[[], float] = time.monotonic
    ) -> None:
        # member id -> (clock time, rate remaining, quota left or None when unlimited)
        self._memo: OrderedDict[int, tuple[float, int, int | None]] = OrderedDict()
        self._maxsize = maxsize
        self._clock = clock

    def __len__(self) -> int:
        return len(self._memo)

    def remember(self, access, decision) -> None:
        """Keep the verdict the limiter just gave for the member."""
        quota_left = access.quota - decision.quota_used if access.quota > 0 else None
        if not decision.allowed:
            quota_left = 0 if decision.reason == "quota" else quota_left
        memo = self._memo
        member_id = access.member_id
        memo[member_id] = (self._clock(), decision.remaining, quota_left)
        memo.move_to_end(member_id)
        if len(memo) > self._maxsize:
            memo.popitem(last=False)

    def may_speculate(self, access) -> bool:
        """True (and one request of the remembered headroom used up) when the last
        verdict is recent and far from every limit."""
        memo = self._memo.get(access.member_id)
        if memo is None:
            return False
        at, remaining, quota_left = memo
        if self._clock() - at > SPECULATE_MAX_AGE_S:
            return False
        if remaining < max(SPECULATE_MIN_REMAINING, access.rate_limit // 5):
            return False
        if quota_left is not None and quota_left < SPECULATE_MIN_QUOTA_LEFT:
            return False
        self._memo[access.member_id] = (
            at,
            remaining - 1,
            None if quota_left is None else quota_left - 1,
        )
        return True
