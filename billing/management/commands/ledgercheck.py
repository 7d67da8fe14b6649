from django.core.management.base import BaseCommand

from billing.ledgercheck import ledger_violations
from billing.models import LedgerTransaction


class Command(BaseCommand):
    help = "Verify every ledger invariant; exits 1 naming each violation."

    def handle(self, *args, **options):
        problems = ledger_violations()
        count = LedgerTransaction.objects.count()
        if not problems:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Ledger OK: {count} transactions checked; every transaction balances, "
                    "balances match their entries, no negative wallet, no overlapping terms."
                )
            )
            return
        self.stderr.write(self.style.ERROR(f"Ledger has {len(problems)} problem(s):"))
        for problem in problems:
            self.stderr.write(f"  - {problem}")
        raise SystemExit(1)
