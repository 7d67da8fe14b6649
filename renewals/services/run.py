"""One pass of the scheduler: reminders, auto-renewals, expiries, then the
low-balance alert."""

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


def renewals_run(
    *,
    at: dt.datetime | None = None,
    client: OrgClient | None = None,
    budget_s: float | None = None,
) -> RunReport:
    """One pass of the scheduler: reminders, auto-renewals, expiries, then the
    low-balance forecast. Safe to run twice at once. With a time budget it stops
    early; what is left is still due on the next run."""
    started = time.monotonic()
    at = at or clock.now()
    report = RunReport()
    row = org_settings()
    lead = dt.timedelta(hours=row.renew_lead_hours)

    def out_of_time() -> bool:
        return budget_s is not None and time.monotonic() - started > budget_s

    reminder_ids = reminders_due_ids(at=at)
    report.scanned["reminders"] = len(reminder_ids)
    for member_id in reminder_ids:
        if out_of_time():
            break
        if member_remind(member_id=member_id, at=at, reminder_days=row.reminder_days):
            report.reminded += 1

    report.renewed += renew_claims_settle(at=at, client=client)

    renew_ids = renewals_due_ids(at=at, lead=lead)
    report.scanned["renewals"] = len(renew_ids)
    for member_id in renew_ids:
        if out_of_time():
            break
        try:
            result = member_auto_renew(member_id=member_id, at=at, client=client)
        except Exception:
            # One member's failure must not stop the others; it is due again next run.
            log.exception("auto-renewal failed", extra={"member": member_id})
            report.renew_failed += 1
            continue
        if result == "renewed":
            report.renewed += 1
        elif result == "waiting_credits":
            report.waiting_credits += 1
        elif result == "failed":
            report.renew_failed += 1
        else:
            report.skipped += 1

    expire_ids = expiries_due_ids(at=at)
    report.scanned["expiries"] = len(expire_ids)
    for member_id in expire_ids:
        if out_of_time():
            break
        if member_expire(member_id=member_id, at=at):
            report.expired += 1

    report.low_balance_alert = low_balance_check(at=at)
    report.seconds = round(time.monotonic() - started, 3)
    return report
