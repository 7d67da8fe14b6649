import json
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from billing.models import LedgerTransaction
from billing.services import ledger
from members.errors import ServiceError
from members.models import Member
from members.services import operations
from members.services.keys import service_token_create
from members.services.plans import plans_sync
from members.upstream import UpstreamError

DEMO_MEMBERS = [
    ("alice", "pro", "Alice Martin"),
    ("bob", "pro", "Bob Chen"),
    ("carol", "ultra", "Carol Diaz"),
    ("dave", "ultra", "Dave Evans"),
    ("erin", "mega", "Erin Fox"),
    ("frank", "mega", "Frank Green"),
    ("grace", "ultra_plus", "Grace Hall"),
]


class Command(BaseCommand):
    help = (
        "Create the demo organization: credits, a few members on each plan, an admin "
        "login and a service token. The last line printed is JSON with the credentials."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing when the ledger already has entries",
        )
        parser.add_argument("--credits", type=int, default=2_000)

    def handle(self, *args, if_empty, credits, **options):
        if if_empty and LedgerTransaction.objects.exists():
            self.stdout.write(json.dumps({"created": False}))
            return
        try:
            plans = plans_sync()
        except UpstreamError as exc:
            raise CommandError(
                f"Cannot reach the upstream Organization API to read plans: {exc.message}. "
                "Is the sandbox running (python manage.py sandbox)?"
            ) from None
        self.stdout.write(f"Plans: {', '.join(p.name for p in plans)}")
        lot = ledger.credits_purchase(credits=credits, actor="demo")
        self.stdout.write(
            f"Bought {lot.credits:,} credits for {lot.total_cents / 100:,.2f} USD"
        )
        names = {p.name for p in plans}
        first_key = None
        for uid, plan, name in DEMO_MEMBERS:
            if plan not in names or Member.objects.filter(uid=uid).exists():
                continue
            try:
                outcome = operations.member_create(
                    uid=uid, plan=plan, full_name=name, actor="demo"
                )
                first_key = first_key or (uid, outcome.api_key)
                self.stdout.write(f"  member {uid:<6} on {plan}")
            except ServiceError as exc:
                self.stdout.write(f"  member {uid:<6} skipped: {exc.message}")
        User = get_user_model()
        password = secrets.token_urlsafe(12)
        user, _ = User.objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        # Portal roles are groups (migration 0004): the demo admin owns the portal,
        # and a read-only login shows what a viewer sees.
        user.groups.add(Group.objects.get(name="owner"))
        viewer_password = secrets.token_urlsafe(12)
        viewer, _ = User.objects.get_or_create(username="viewer")
        viewer.set_password(viewer_password)
        viewer.save()
        viewer.groups.add(Group.objects.get(name="viewer"))
        _, token = service_token_create(name="demo", actor="demo")
        self.stdout.write(
            json.dumps(
                {
                    "created": True,
                    "admin_username": "admin",
                    "admin_password": password,
                    "viewer_username": "viewer",
                    "viewer_password": viewer_password,
                    "service_token": token,
                    "sandbox_org_key": settings.UPSTREAM_ORG_KEY,
                    **(
                        {f"gateway_key_{first_key[0]}": first_key[1]}
                        if first_key and first_key[1]
                        else {}
                    ),
                }
            )
        )
