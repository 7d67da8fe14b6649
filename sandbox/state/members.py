"""Organization members and their market data usage."""

import dataclasses
import datetime as dt
from collections import deque
from typing import Literal

from sandbox.state.plans import Plan

MAX_UID_LENGTH = 100

MemberStatus = Literal["active", "cancelled", "expired"]


@dataclasses.dataclass(slots=True)
class MarketUsage:
    """A member's market data REST requests that were answered; refusals (bad key,
    inactive member, rate limit, quota, bad parameters, injected errors) are not."""

    # Unix times of the requests counted in the trailing rate window, oldest first.
    recent: deque[float] = dataclasses.field(default_factory=deque)
    month: tuple[int, int] = (0, 0)  # the UTC (year, month) month_count belongs to
    month_count: int = 0
    total: int = 0
    rate_limited: int = 0  # refusals, for tests and the control API
    quota_refused: int = 0


@dataclasses.dataclass(slots=True)
class Member:
    uid: str
    full_name: str
    plan: Plan
    # Stored status is "active" or "cancelled"; "expired" is derived from plan_end_at.
    status: Literal["active", "cancelled"]
    created_at: dt.datetime
    plan_end_at: dt.datetime
    # What the current paid-up time cost, in hundredths: the base of proration.
    paid: int
    api_key: str
    quota_exceeded: bool = False
    usage: MarketUsage = dataclasses.field(default_factory=MarketUsage)

    def status_at(self, now: dt.datetime) -> MemberStatus:
        if self.status == "active" and self.plan_end_at <= now:
            return "expired"
        return self.status
