"""One pass of the scheduler: reminders, auto-renewals, expiries, then the
low-balance alert.

A pass is planned first (claims left by stopped workers settled, the three due scans);
its due ids are then cut into chunks of one kind each, the unit one worker takes
(`renewals.tasks` fans them out over the workers). `renewals_run` runs a whole pass
here, one item after another. Every item is claimed once per term
(`term_actions.action_claim`), so chunks may overlap or run twice without harm.
"""

import datetime as dt
import logging
import time
from dataclasses import dataclass, field

from django.db import transaction

from billing.money import format_amount
from members import selectors
from members.selectors import org_settings
from members.services.org import org_settings_locked
from members.upstream import OrgClient
from notifications.models import Notification
from notifications.services.notify import notify
from orgportal import clock
from renewals.services.auto_renew import member_auto_renew, renew_claims_settle
from renewals.services.expiry import member_expire
from renewals.services.reminders import member_remind
from renewals.services.term_actions import (
    expiries_due_ids,
    reminders_due_ids,
    renewals_due_ids,
)

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    reminded: int = 0
    renewed: int = 0
    waiting_credits: int = 0
    renew_failed: int = 0
    expired: int = 0
    low_balance_alert: bool = False
    skipped: int = 0
    scanned: dict = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}

    def add(self, part: "RunReport") -> None:
        """Count another part of the same pass (a chunk) in this report."""
        for name in COUNTED:
            setattr(self, name, getattr(self, name) + getattr(part, name))
        self.low_balance_alert = self.low_balance_alert or part.low_balance_alert
        for kind, count in part.scanned.items():
            self.scanned[kind] = self.scanned.get(kind, 0) + count


# The report's counters, summed over the chunks of a pass.
COUNTED = (
    "reminded",
    "renewed",
    "waiting_credits",
    "renew_failed",
    "expired",
    "skipped",
)


@dataclass
class PassPlan:
    """What one pass has to do: the due member ids of each kind, in the order the kinds
    run (reminders, renewals, expiries), scanned at `at`."""

    at: dt.datetime
    settled: int
    due: dict[str, list[int]]

    def report(self) -> RunReport:
        """The pass's report before any chunk has run."""
        return RunReport(
            renewed=self.settled,
            scanned={kind: len(ids) for kind, ids in self.due.items()},
        )

    def chunks(self, sizes: dict[str, int]) -> list[tuple[str, list[int]]]:
        """(kind, ids) of at most `sizes[kind]` ids each: every due id in exactly one
        chunk."""
        return [
            (kind, ids[start : start + sizes[kind]])
            for kind, ids in self.due.items()
            for start in range(0, len(ids), sizes[kind])
        ]


def low_balance_check(*, at: dt.datetime | None = None) -> bool:
    """Alert once per episode when the wallet cannot cover the auto-renewals due in the
    window; the episode ends when it can again. True if an alert went out."""

    at = at or clock.now()
    current = org_settings()
    if current.low_balance_since is None:
        forecast = selectors.balance_forecast(days=current.low_balance_days, at=at)
        if forecast["shortfall"] == 0:
            return False  # no episode to start or end: nothing to lock or write
    with transaction.atomic():
        row = org_settings_locked()
        forecast = selectors.balance_forecast(days=row.low_balance_days, at=at)
        if forecast["shortfall"] == 0:
            if row.low_balance_since is not None:
                row.low_balance_since = None
                row.save(update_fields=["low_balance_since"])
            return False
        if row.low_balance_since is not None:
            return False
        row.low_balance_since = at
        row.save(update_fields=["low_balance_since"])
        notify(
            event=Notification.Event.LOW_BALANCE,
            dedupe_key=f"org.low_balance:{clock.iso_exact(at)}",
            data={
                "balance": format_amount(forecast["balance"]),
                "available": format_amount(forecast["available"]),
                "forecast": format_amount(forecast["due"]),
                "renewals": forecast["renewals"],
                "window_days": forecast["window_days"],
                "shortfall": format_amount(forecast["shortfall"]),
            },
        )
    return True


def pass_plan(
    *, at: dt.datetime | None = None, client: OrgClient | None = None
) -> PassPlan:
    """Settle the renewals that stopped workers left claimed, then scan what is due."""
    at = at or clock.now()
    settled = renew_claims_settle(at=at, client=client)
    lead = dt.timedelta(hours=org_settings().renew_lead_hours)
    return PassPlan(
        at=at,
        settled=settled,
        due={
            "reminders": reminders_due_ids(at=at),
            "renewals": renewals_due_ids(at=at, lead=lead),
            "expiries": expiries_due_ids(at=at),
        },
    )


def _remind(member_id: int, at: dt.datetime, client, row) -> list[str]:
    sent = member_remind(member_id=member_id, at=at, reminder_days=row.reminder_days)
    return ["reminded"] if sent else []


# member_auto_renew's outcomes as the report counts them; any other is "skipped".
RENEW_COUNTED = {
    "renewed": "renewed",
    "waiting_credits": "waiting_credits",
    "failed": "renew_failed",
}


def _renew(member_id: int, at: dt.datetime, client, row) -> list[str]:
    # A reminder may fall due with the renewal (by default the last one does): it goes
    # out first, as in a serial pass, whichever chunk reaches the member first (its
    # claim sends it once).
    counted = _remind(member_id, at, client, row)
    try:
        result = member_auto_renew(member_id=member_id, at=at, client=client)
    except Exception:
        # One member's failure must not stop the others; it is due again next run.
        log.exception("auto-renewal failed", extra={"member": member_id})
        return [*counted, "renew_failed"]
    return [*counted, RENEW_COUNTED.get(result, "skipped")]


def _expire(member_id: int, at: dt.datetime, client, row) -> list[str]:
    return ["expired"] if member_expire(member_id=member_id, at=at) else []


# Each kind of due work: one member's step, returning the report counters it adds to.
STEPS = {"reminders": _remind, "renewals": _renew, "expiries": _expire}


def _items_run(
    kind: str,
    ids: list[int],
    *,
    at: dt.datetime,
    client: OrgClient | None,
    deadline: float | None,
) -> RunReport:
    """Each member's step of this kind, in order, until the deadline (monotonic) has
    passed; what is left is still due on the next run."""
    step = STEPS[kind]
    row = org_settings()
    report = RunReport()
    for member_id in ids:
        if deadline is not None and time.monotonic() > deadline:
            break
        for counter in step(member_id, at, client, row):
            setattr(report, counter, getattr(report, counter) + 1)
    return report


def _deadline(started: float, budget_s: float | None) -> float | None:
    return None if budget_s is None else started + budget_s


def chunk_run(
    *,
    kind: str,
    ids: list[int],
    at: dt.datetime | None = None,
    client: OrgClient | None = None,
    budget_s: float | None = None,
) -> RunReport:
    """One chunk of a pass: the members `ids`, all due for `kind`, then the low-balance
    check, so the last chunk of a pass to finish checks the wallet as the pass left it.
    With a time budget it stops early; what is left is still due on the next run."""
    started = time.monotonic()
    at = at or clock.now()
    report = _items_run(
        kind, ids, at=at, client=client, deadline=_deadline(started, budget_s)
    )
    report.low_balance_alert = low_balance_check(at=at)
    report.seconds = round(time.monotonic() - started, 3)
    return report


def renewals_run(
    *,
    at: dt.datetime | None = None,
    client: OrgClient | None = None,
    budget_s: float | None = None,
) -> RunReport:
    """One pass of the scheduler here, serially: reminders, auto-renewals, expiries,
    then the low-balance forecast. Safe to run twice at once. With a time budget it
    stops early; what is left is still due on the next run."""
    started = time.monotonic()
    deadline = _deadline(started, budget_s)
    plan = pass_plan(at=at, client=client)
    report = plan.report()
    for kind, ids in plan.due.items():
        report.add(_items_run(kind, ids, at=plan.at, client=client, deadline=deadline))
    report.low_balance_alert = low_balance_check(at=plan.at)
    report.seconds = round(time.monotonic() - started, 3)
    return report
