"""In-memory state of the simulated upstreams: plans, organization members, the
organization's credit balance, members' market data usage and the injected faults.

No Django here: the sandbox runs inside tests, benchmarks and its own process alike, and
takes everything it needs as constructor arguments. All time comes from
`orgportal.clock.now()` so tests can freeze and advance it. Money is integer hundredths of
a credit; rounding is half-to-even, once per charge.
"""

import asyncio
import calendar
import contextlib
import dataclasses
import datetime as dt
import math
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import jwt

from orgportal import clock
from sandbox.aries.book import AriesBook
from sandbox.state.errors import SandboxError
from sandbox.state.faults import FaultKind, Faults
from sandbox.state.formats import format_credits, format_time
from sandbox.state.live_settings import LiveConfig
from sandbox.state.members import Member
from sandbox.state.plans import (
    DEFAULT_CUSTOM_PLANS,
    PERIOD,
    REGULAR_PRICES,
    TIER_LIMITS,
    Plan,
    custom_plan,
    prorate,
)

DEFAULT_ORG_KEY = "sandbox-org-key"
DEFAULT_SEED = 42
DEFAULT_EMAIL_DOMAIN = "company.com"
# Signs the sandbox's member keys; public on purpose (the sandbox guards nothing) and
# long enough for an HS256 key.
DEFAULT_MEMBER_KEY_SECRET = "sandbox-member-key-signing-secret-not-for-production"  # noqa: S105
# 1,000,000.00 credits, in hundredths.
DEFAULT_BALANCE = 1_000_000_00

# How long a market data long poll may hold its answer by default, in seconds.
DEFAULT_LONG_POLL_SECONDS = 5.0
# The per-minute rate limit counts requests in the trailing window of this many seconds.
RATE_WINDOW_SECONDS = 60


def _now() -> dt.datetime:
    # Upstream reports milliseconds; storing the same precision keeps what a client reads
    # back equal to what the sandbox prorates with.
    moment = clock.now().astimezone(dt.UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class SandboxState:
    """Everything the simulated Organization API knows. Methods validate the business
    rules and raise `SandboxError`; request parsing lives in `sandbox.orgapi`.

    Thread-safe: the server's event loop and a test thread may both call it.
    """

    def __init__(
        self,
        *,
        org_key: str = DEFAULT_ORG_KEY,
        seed: int = DEFAULT_SEED,
        email_domain: str = DEFAULT_EMAIL_DOMAIN,
        member_key_secret: str = DEFAULT_MEMBER_KEY_SECRET,
        initial_balance: int = DEFAULT_BALANCE,
        custom_plans: Iterable[Mapping[str, Any]] = DEFAULT_CUSTOM_PLANS,
    ) -> None:
        self.org_key = org_key
        self.seed = seed
        self.email_domain = email_domain
        self.member_key_secret = member_key_secret
        self.initial_balance = initial_balance
        self.initial_custom_plans = tuple(custom_plans)
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        """Back to a fresh start: the initial plan catalogue, no members, no faults,
        default balance, market and WebSocket settings, seeds rewound."""
        with self._lock:
            self.plans: dict[str, Plan] = {
                name: Plan(name, price, name, TIER_LIMITS[name], custom=False)
                for name, price in REGULAR_PRICES.items()
            }
            for config in self.initial_custom_plans:
                self.add_custom_plan(config)
            self.long_poll_seconds = DEFAULT_LONG_POLL_SECONDS
            self.members: dict[str, Member] = {}
            self._members_by_key: dict[str, Member] = {}
            self.balance = self.initial_balance  # hundredths of a credit
            self.faults = Faults()
            self.fault_seed = self.seed
            self.live = LiveConfig()
            # Times of each WebSocket key's recent subscription messages, by key owner.
            self.live_rates: dict[str, deque[float]] = {}
            # The simulated Aries brokerage: users, accounts, orders, tokens, settings.
            self.aries = AriesBook()
            self.rng = random.Random(self.seed)
            self.fault_rng = random.Random(self.seed)

    # --- plans -------------------------------------------------------------------------

    def add_custom_plan(self, config: Mapping[str, Any]) -> Plan:
        """Add (or replace) a custom plan. Members already on a replaced plan keep the
        limits they had until their plan is changed."""
        plan = custom_plan(config)
        with self._lock:
            if plan.name in REGULAR_PRICES:
                raise ValueError(f"custom plan {plan.name!r} shadows a regular plan")
            self.plans[plan.name] = plan
        return plan

    def plans_json(self) -> dict[str, Any]:
        plans = list(self.plans.values())
        return {
            "regular_plans": [plan.as_json() for plan in plans if not plan.custom],
            "custom_plans": [plan.as_json() for plan in plans if plan.custom],
        }

    def _plan(self, name: str) -> Plan:
        try:
            return self.plans[name]
        except KeyError:
            raise SandboxError(
                400,
                "INVALID_PLAN",
                f"Unknown plan '{name}'",
                {"field": "plan", "plans": list(self.plans)},
            ) from None

    # --- members -----------------------------------------------------------------------

    def member_json(
        self, member: Member, *, now: dt.datetime | None = None
    ) -> dict[str, Any]:
        limits = member.plan.limits
        return {
            "uid": member.uid,
            "email": f"org_{member.uid}@{self.email_domain}",
            "full_name": member.full_name,
            "role": "member",
            "plan": member.plan.name,
            "status": member.status_at(now or _now()),
            "created_at": format_time(member.created_at),
            "plan_end_at": format_time(member.plan_end_at),
            "api_key": member.api_key,
            "websocket_symbols": limits.websocket_symbols,
            "websocket_connections": limits.websocket_connections,
            "newsfeed": limits.newsfeed,
            "rate_limit": limits.rate_limit,
            "quota": limits.quota,
            "quota_exceeded": member.quota_exceeded,
        }

    def member(self, uid: str) -> Member:
        try:
            return self.members[uid]
        except KeyError:
            raise SandboxError(
                404, "MEMBER_NOT_FOUND", f"Member '{uid}' not found", {"uid": uid}
            ) from None

    @contextlib.contextmanager
    def _member_now(self, uid: str) -> Iterator[tuple[Member, dt.datetime]]:
        """Under the lock: the member `uid` names (404 MEMBER_NOT_FOUND if none) and
        the time now."""
        with self._lock:
            yield self.member(uid), _now()

    def member_by_api_key(self, api_key: str) -> Member | None:
        """The member holding a key, for simulated endpoints that authenticate members."""
        return self._members_by_key.get(api_key)

    def members_page(self, *, page: int, limit: int) -> tuple[list[Member], int]:
        """One page (1-based) ordered by created_at then uid, and the total count."""
        with self._lock:
            ordered = sorted(self.members.values(), key=lambda m: (m.created_at, m.uid))
        start = (page - 1) * limit
        return ordered[start : start + limit], len(ordered)

    def member_create(self, *, uid: str, plan: str, full_name: str = "") -> Member:
        with self._lock:
            chosen = self._plan(plan)
            if uid in self.members:
                raise SandboxError(
                    409, "MEMBER_EXISTS", f"Member '{uid}' already exists", {"uid": uid}
                )
            self._charge(chosen.price_hundredths)
            now = _now()
            member = Member(
                uid=uid,
                full_name=full_name,
                plan=chosen,
                status="active",
                created_at=now,
                plan_end_at=now + PERIOD,
                paid=chosen.price_hundredths,
                api_key=self._member_key(uid, chosen, now),
            )
            self.members[uid] = member
            self._members_by_key[member.api_key] = member
            return member

    def member_update(
        self, *, uid: str, plan: str, full_name: str | None = None
    ) -> Member:
        """Change plan (prorated) or, with the same plan, renew at full price."""
        with self._member_now(uid) as (member, now):
            chosen = self._plan(plan)
            status = member.status_at(now)
            if chosen.name == member.plan.name:
                charge = chosen.price_hundredths
                # Early renewal stacks a new period on the old one; late renewal
                # starts now, so the gap is never paid for.
                start = member.plan_end_at if status == "active" else now
            elif status == "active":
                # What was paid for the remaining time counts towards the new plan;
                # negative means credit back to the organization.
                charge = prorate(
                    chosen.price_hundredths - member.paid, member.plan_end_at - now
                )
                start = now
            else:
                charge = chosen.price_hundredths
                start = now
            self._charge(charge)
            member.plan = chosen
            member.paid = chosen.price_hundredths
            member.status = "active"
            member.plan_end_at = start + PERIOD
            if full_name is not None:
                member.full_name = full_name
            return member

    def member_cancel(self, *, uid: str) -> Member:
        with self._member_now(uid) as (member, now):
            status = member.status_at(now)
            if status != "active":
                raise SandboxError(
                    409,
                    "MEMBER_NOT_ACTIVE",
                    f"Member '{uid}' is {status}",
                    {"uid": uid, "status": status},
                )
            self._refund_remaining(member, now)
            member.status = "cancelled"
            member.plan_end_at = now
            return member

    def member_delete(self, *, uid: str) -> None:
        with self._member_now(uid) as (member, now):
            if member.status_at(now) == "active":
                self._refund_remaining(member, now)
            del self.members[uid]
            self._members_by_key.pop(member.api_key, None)

    def member_expire(self, *, uid: str) -> Member:
        """Test hook: the member's paid time ends now."""
        with self._member_now(uid) as (member, now):
            member.plan_end_at = now
            return member

    def _refund_remaining(self, member: Member, now: dt.datetime) -> None:
        self.balance += prorate(member.paid, member.plan_end_at - now)

    def _charge(self, amount: int) -> None:
        """Take `amount` hundredths from the organization (negative gives back)."""
        if amount > self.balance:
            raise SandboxError(
                402,
                "INSUFFICIENT_CREDITS",
                "Insufficient organization credits",
                {
                    "required": format_credits(amount),
                    "balance": format_credits(self.balance),
                },
            )
        self.balance -= amount

    def _member_key(self, uid: str, plan: Plan, now: dt.datetime) -> str:
        limits = plan.limits
        payload = {
            "uuid": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "uid": uid,
            "plan": plan.name,
            "newsfeed_enabled": limits.newsfeed,
            "websocket_symbols": limits.websocket_symbols,
            "websocket_connections": limits.websocket_connections,
            "iat": int(now.timestamp()),
        }
        return jwt.encode(payload, self.member_key_secret, algorithm="HS256")

    # --- credits -----------------------------------------------------------------------

    def credits_add(self, *, amount: int) -> int:
        """Add hundredths to the balance (negative removes); returns the new balance."""
        with self._lock:
            if self.balance + amount < 0:
                raise SandboxError(
                    400,
                    "INVALID_REQUEST",
                    "The balance cannot go negative",
                    {"field": "credits", "balance": format_credits(self.balance)},
                )
            self.balance += amount
            return self.balance

    # --- faults ------------------------------------------------------------------------

    def faults_set(self, *, seed: int | None = None, **changes: Any) -> Faults:
        """Change some fault settings; a seed rewinds the fault sequence."""
        with self._lock:
            self.faults = dataclasses.replace(self.faults, **changes)
            if seed is not None:
                self.fault_seed = seed
                self.fault_rng = random.Random(seed)
            return self.faults

    def live_set(self, **changes: Any) -> LiveConfig:
        """Change some WebSocket settings (`LiveConfig` fields)."""
        with self._lock:
            self.live = dataclasses.replace(self.live, **changes)
            return self.live

    def fault_draw(self, faults: Faults) -> FaultKind | None:
        """The fault for one in-scope request. Always two draws (three while drop_rate
        is set), so the sequence depends only on the seed, the settings and the number
        of in-scope requests."""
        with self._lock:
            error_roll = self.fault_rng.random()
            timeout_roll = self.fault_rng.random()
            drop_roll = self.fault_rng.random() if faults.drop_rate else 1.0
        if error_roll < faults.error_rate:
            return "error"
        if timeout_roll < faults.timeout_rate:
            return "timeout"
        if drop_roll < faults.drop_rate:
            return "drop"
        return None

    async def fault_begin(self, faults: Faults) -> FaultKind | None:
        """Start one in-scope request's fault: draw it, add the latency, and refuse with
        503 SANDBOX_FAULT (nothing applied) for an error. Returns the drawn kind so the
        caller can hang or cut off its answer."""
        kind = self.fault_draw(faults)
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if kind == "error":
            headers = {}
            if faults.retry_after is not None:
                headers["Retry-After"] = f"{faults.retry_after:g}"
            raise SandboxError(
                503, "SANDBOX_FAULT", "Sandbox injected fault", headers=headers
            )
        return kind

    # --- market data usage -------------------------------------------------------------

    def market_admit(self, member: Member, now: float) -> int:
        """Count one market data request of `member` at `now` (Unix seconds) against
        its plan's rate limit and monthly quota (UTC calendar month); returns how many
        more the rate window allows. A refusal raises 429 and counts nothing."""
        limits = member.plan.limits
        usage = member.usage
        with self._lock:
            recent = usage.recent
            horizon = now - RATE_WINDOW_SECONDS
            while recent and recent[0] <= horizon:
                recent.popleft()
            if len(recent) >= limits.rate_limit:
                usage.rate_limited += 1
                retry = max(1, math.ceil(recent[0] + RATE_WINDOW_SECONDS - now))
                raise SandboxError(
                    429,
                    "RATE_LIMITED",
                    "Rate limit exceeded",
                    {
                        "limit": limits.rate_limit,
                        "window_seconds": RATE_WINDOW_SECONDS,
                        "retry_after": retry,
                    },
                    headers={
                        "Retry-After": str(retry),
                        "X-RateLimit-Limit": str(limits.rate_limit),
                        "X-RateLimit-Remaining": "0",
                    },
                )
            month = time.gmtime(now)[:2]
            if month != usage.month:
                usage.month, usage.month_count = month, 0
                member.quota_exceeded = False
            if limits.quota and usage.month_count >= limits.quota:
                usage.quota_refused += 1
                member.quota_exceeded = True
                raise SandboxError(
                    429,
                    "QUOTA_EXCEEDED",
                    "quota_exceeded",
                    {
                        "quota": limits.quota,
                        "used": usage.month_count,
                        "resets_at": _month_after(month),
                    },
                    headers={
                        "X-RateLimit-Limit": str(limits.rate_limit),
                        "X-RateLimit-Remaining": str(limits.rate_limit - len(recent)),
                    },
                )
            recent.append(now)
            usage.month_count += 1
            usage.total += 1
            if limits.quota and usage.month_count >= limits.quota:
                member.quota_exceeded = True
            return limits.rate_limit - len(recent)

    def market_release(self, member: Member, now: float) -> None:
        """Uncount a request admitted at `now` that was refused after all."""
        usage = member.usage
        with self._lock:
            recent = usage.recent
            if recent and recent[-1] == now:
                recent.pop()
            elif now in recent:
                recent.remove(now)
            else:
                return
            usage.total -= 1
            if usage.month == time.gmtime(now)[:2]:
                usage.month_count -= 1
                quota = member.plan.limits.quota
                member.quota_exceeded = bool(quota) and usage.month_count >= quota

    def usage_json(self, member: Member, *, now: float) -> dict[str, Any]:
        usage = member.usage
        limits = member.plan.limits
        year, month = time.gmtime(now)[:2]
        with self._lock:
            in_window = sum(1 for t in usage.recent if t > now - RATE_WINDOW_SECONDS)
            this_month = usage.month == (year, month)
            return {
                "uid": member.uid,
                "plan": member.plan.name,
                "rate_limit": limits.rate_limit,
                "quota": limits.quota,
                "last_minute": in_window,
                "month": f"{year:04d}-{month:02d}",
                "month_count": usage.month_count if this_month else 0,
                "total": usage.total,
                "rate_limited": usage.rate_limited,
                "quota_refused": usage.quota_refused,
                "quota_exceeded": member.quota_exceeded,
            }


def _month_after(month: tuple[int, int]) -> str:
    year, number = month
    days = calendar.monthrange(year, number)[1]
    start = dt.datetime(year, number, 1, tzinfo=dt.UTC) + dt.timedelta(days=days)
    return format_time(start)
