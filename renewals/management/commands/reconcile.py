from django.core.management.base import BaseCommand

from renewals.services.reconcile import PAGE_SIZE, reconcile_run


class Command(BaseCommand):
    help = (
        "Compare every member with the upstream Organization API, repair what is safe "
        "(limits, names, expiries both sides agree on) and list what needs a person. "
        "Exits 1 if anything needs a person or upstream could not be read."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--page-size",
            type=int,
            default=PAGE_SIZE,
            help=f"members per upstream page (default {PAGE_SIZE}, the most allowed)",
        )

    def handle(self, *args, page_size, **options):
        run = reconcile_run(page_size=page_size)
        took = (run.finished_at - run.started_at).total_seconds()
        self.stdout.write(
            f"Reconciliation #{run.pk}: {run.checked} members checked in {took:.1f} s; "
            f"{len(run.repaired)} repaired, {len(run.reported)} need a person."
        )
        if run.error:
            self.stderr.write(
                self.style.ERROR(f"Upstream could not be read: {run.error}")
            )
            raise SystemExit(1)
        if run.repaired:
            self.stdout.write("\nRepaired (upstream is right):")
            for item in run.repaired:
                self.stdout.write(
                    f"  - {item['uid']}: {item['field']} {_show(item['local'])} → "
                    f"{_show(item['upstream'])} ({item['action']})"
                )
        if run.reported:
            self.stdout.write(self.style.WARNING("\nNeeds a person:"))
            for item in run.reported:
                self.stdout.write(
                    f"  - {item['uid']}: {item['field']} here {_show(item['local'])}, "
                    f"upstream {_show(item['upstream'])}\n      {item['why']}"
                )
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS("Nothing needs a person."))


def _show(value) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return repr(value) if isinstance(value, str) else str(value)
