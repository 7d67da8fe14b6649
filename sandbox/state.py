"""In-memory state of the simulated upstreams: plans, organization members, the
organization's credit balance and the injected faults.

No Django here: the sandbox runs inside tests, benchmarks and its own process alike, and
takes everything it needs as constructor arguments. All time comes from
`orgportal.clock.now()` so tests can freeze and advance it. Money is integer hundredths of
a credit; rounding is half-to-even, once per charge.
"""

import dataclasses
import datetime as dt
import random
import threading
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

import jwt

from orgportal import clock

DEFAULT_ORG_KEY = "sandbox-org-key"
DEFAULT_SEED = 42
DEFAULT_EMAIL_DOMAIN = "company.com"
# Signs the sandbox's member keys; public on purpose (the sandbox guards nothing) and
# long enough for an HS256 key.
DEFAULT_MEMBER_KEY_SECRET = "sandbox-member-key-signing-secret-not-for-production"  # noqa: S105
# 1,000,000.00 credits, in hundredths.
DEFAULT_BALANCE = 1_000_000_00

PERIOD = dt.timedelta(days=30)
PERIOD_SECONDS = int(PERIOD.total_seconds())
MAX_UID_LENGTH = 100


@dataclasses.dataclass(frozen=True, slots=True)
class PlanLimits:
    rate_limit: int  # requests per minute
    quota: int  # REST requests per month; 0 = unlimited
    websocket_symbols: int
    websocket_connections: int
    newsfeed: bool


TIER_LIMITS: Mapping[str, PlanLimits] = {
    "pro": PlanLimits(25, 50_000, 2, 1, True),
    "ultra": PlanLimits(40, 120_000, 5, 1, True),
    "mega": PlanLimits(80, 0, 12, 3, True),
}
# Catalogue prices in whole credits.
REGULAR_PRICES: Mapping[str, int] = {"pro": 15, "ultra": 25, "mega": 50}
DEFAULT_CUSTOM_PLANS: tuple[Mapping[str, Any], ...] = (
    {
        "name": "ultra_plus",
        "price": 40,
        "feature": "ultra",
        "rate_limit": 80,
        "websocket_connections": 1,
        "websocket_symbols": 5,
        "quota": 0,
    },
)
_LIMIT_FIELDS = ("rate_limit", "quota", "websocket_symbols", "websocket_connections")


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    name: str
    price: int | Decimal  # credits, as the catalogue shows it
    feature: str  # the tier whose features the plan has
    limits: PlanLimits
    custom: bool

    @property
    def price_hundredths(self) -> int:
        return int(Decimal(self.price) * 100)

    def as_json(self) -> dict[str, Any]:
        price = int(self.price) if self.price == int(self.price) else float(self.price)
        if not self.custom:
            return {"name": self.name, "price": price}
        return {
            "name": self.name,
            "price": price,
            "feature": self.feature,
            "rate_limit": self.limits.rate_limit,
            "websocket_connections": self.limits.websocket_connections,
            "websocket_symbols": self.limits.websocket_symbols,
            "quota": self.limits.quota,
        }


def custom_plan(config: Mapping[str, Any]) -> Plan:
    """A custom plan: its feature tier's limits, overridden by the numbers it gives."""
    feature = config["feature"]
    if feature not in TIER_LIMITS:
        raise ValueError(f"custom plan feature must be one of {sorted(TIER_LIMITS)}")
    overrides = {key: int(config[key]) for key in _LIMIT_FIELDS if key in config}
    return Plan(
        # Upstream configures custom plans by `id`; the catalogue lists them by `name`.
        name=str(config.get("name") or config["id"]),
        price=Decimal(str(config["price"])),
        feature=feature,
        limits=dataclasses.replace(TIER_LIMITS[feature], **overrides),
        custom=True,
    )


MemberStatus = Literal["active", "cancelled", "expired"]


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

    def status_at(self, now: dt.datetime) -> MemberStatus:
        if self.status == "active" and self.plan_end_at <= now:
            return "expired"
        return self.status


class SandboxError(Exception):
    """An error the API reports as `{"success": false, "error", "code", "details"}`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})


FaultScope = Literal["mutations", "all"]
FaultKind = Literal["error", "timeout"]


@dataclasses.dataclass(frozen=True, slots=True)
class Faults:
    error_rate: float = 0.0  # share of in-scope requests refused with 503, unapplied
    latency_ms: int = 0  # added before every in-scope request
    timeout_rate: float = 0.0  # share applied, then held for hang_seconds
    hang_seconds: float = 30.0
    scope: FaultScope = "mutations"
    # Retry-After (seconds) sent with injected 503s; None sends no header.
    retry_after: float | None = None

    @property
    def active(self) -> bool:
        return bool(self.error_rate or self.timeout_rate or self.latency_ms)

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def format_credits(hundredths: int) -> str:
    """Hundredths of a credit as a decimal string with two places: 12345 -> "123.45"."""
    sign = "-" if hundredths < 0 else ""
    whole, cents = divmod(abs(hundredths), 100)
    return f"{sign}{whole}.{cents:02d}"


def format_time(moment: dt.datetime) -> str:
    """ISO 8601 in UTC with milliseconds and Z, as upstream writes it."""
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def prorate(amount: int, remaining: dt.timedelta) -> int:
    """`amount` (hundredths) for `remaining` of a 30-day period, per whole second,
    rounded half-to-even to hundredths. Time past the end counts as none."""
    seconds = max(0, int(remaining.total_seconds()))
    return round(Fraction(amount * seconds, PERIOD_SECONDS))


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
        self._lock = threading.RLock()
        self.plans: dict[str, Plan] = {
            name: Plan(name, price, name, TIER_LIMITS[name], custom=False)
            for name, price in REGULAR_PRICES.items()
        }
        for config in custom_plans:
            self.add_custom_plan(config)
        self.reset()

    def reset(self) -> None:
        """Back to a fresh start: no members, no faults, default balance, seeds rewound."""
        with self._lock:
            self.members: dict[str, Member] = {}
            self._members_by_key: dict[str, Member] = {}
            self.balance = self.initial_balance  # hundredths of a credit
            self.faults = Faults()
            self.fault_seed = self.seed
            self.rng = random.Random(self.seed)
            self.fault_rng = random.Random(self.seed)

    # --- plans -------------------------------------------------------------------------

    def add_custom_plan(self, config: Mapping[str, Any]) -> Plan:
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
        with self._lock:
            member = self.member(uid)
            chosen = self._plan(plan)
            now = _now()
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
        with self._lock:
            member = self.member(uid)
            now = _now()
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
        with self._lock:
            member = self.member(uid)
            now = _now()
            if member.status_at(now) == "active":
                self._refund_remaining(member, now)
            del self.members[uid]
            self._members_by_key.pop(member.api_key, None)

    def member_expire(self, *, uid: str) -> Member:
        """Test hook: the member's paid time ends now."""
        with self._lock:
            member = self.member(uid)
            member.plan_end_at = _now()
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

    def fault_draw(self, faults: Faults) -> FaultKind | None:
        """The fault for one in-scope request. Always two draws, so the sequence depends
        only on the seed and the number of in-scope requests."""
        with self._lock:
            error_roll = self.fault_rng.random()
            timeout_roll = self.fault_rng.random()
        if error_roll < faults.error_rate:
            return "error"
        if timeout_roll < faults.timeout_rate:
            return "timeout"
        return None
