from django.core.management.base import BaseCommand, CommandError

from members.errors import ServiceError
from members.scopes import ALL_SCOPES, DEFAULT_SCOPES, SCOPE_HELP
from members.services.keys import service_token_create


class Command(BaseCommand):
    help = (
        "Create a service token for the REST API and print it (shown only this once). "
        "Scopes: "
        + "; ".join(f"{name}: {SCOPE_HELP[name]}" for name in ALL_SCOPES)
        + f". Without --scope: {', '.join(DEFAULT_SCOPES)}."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="who will use it, e.g. 'billing-backend'")
        parser.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            metavar="SCOPE",
            help=(
                f"one of {', '.join(ALL_SCOPES)}; repeat for several "
                f"(default: {' '.join(DEFAULT_SCOPES)})"
            ),
        )
        parser.add_argument("--quiet", action="store_true", help="print only the token")

    def handle(self, *args, name, scopes, quiet, **options):
        try:
            record, token = service_token_create(name=name, scopes=scopes, actor="cli")
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        if quiet:
            self.stdout.write(token)
            return
        self.stdout.write(
            f"Service token '{record.name}' created with scopes "
            f"{', '.join(record.scopes)}. It is shown only now:\n"
        )
        self.stdout.write(f"    {token}\n")
        self.stdout.write("Use it as:  Authorization: Bearer <token>")
