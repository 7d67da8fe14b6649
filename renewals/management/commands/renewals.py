"""Show the scheduler's due work, or run one pass of it now (what beat runs every
RENEWALS_INTERVAL seconds)."""

import datetime as dt

from django.core.management.base import BaseCommand

from billing.money import format_amount
from members import selectors
from members.selectors import org_settings
from orgportal import clock
from renewals.services.run import renewals_run
from renewals.services.term_actions import (
    expiries_due_ids,
    reminders_due_ids,
    renewals_due_ids,
)


class Command(BaseCommand):
    help = "Show due reminders, auto-renewals and expiries; run one scheduler pass."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="only show what is due; change nothing and call nothing",
        )

    def handle(self, *args, dry_run: bool = False, **options):
        at = clock.now()
        row = org_settings()
        lead = dt.timedelta(hours=row.renew_lead_hours)
        due = {
            "reminders": len(reminders_due_ids(at=at)),
            "auto-renewals": len(renewals_due_ids(at=at, lead=lead)),
            "expiries": len(expiries_due_ids(at=at)),
        }
        forecast = selectors.balance_forecast(at=at)
        self.stdout.write(f"Due now ({at:%Y-%m-%d %H:%M} UTC):")
        for name, count in due.items():
            self.stdout.write(f"  {name:<14} {count:>6,}")
        self.stdout.write(
            f"Renewals in the next {forecast['window_days']} days: "
            f"{forecast['renewals']:,} costing {format_amount(forecast['due'])} credits; "
            f"available {format_amount(forecast['available'])}"
            + (
                f" — SHORT by {format_amount(forecast['shortfall'])}"
                if forecast["shortfall"]
                else " — covered"
            )
        )
        if dry_run:
            return
        self.stdout.write("Running one pass …")
        report = renewals_run(at=at)
        self.stdout.write(
            f"Done in {report.seconds:.1f} s: {report.reminded} reminded, "
            f"{report.renewed} renewed, {report.waiting_credits} waiting for credits, "
            f"{report.renew_failed} failed (retried next run), {report.expired} expired"
            + (", low-balance alert sent" if report.low_balance_alert else "")
        )
