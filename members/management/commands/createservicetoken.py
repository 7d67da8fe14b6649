from django.core.management.base import BaseCommand, CommandError

from members.errors import ServiceError
from members.services.keys import service_token_create


class Command(BaseCommand):
    help = (
        "Create a service token for the REST API and print it (shown only this once)."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="who will use it, e.g. 'billing-backend'")
        parser.add_argument("--quiet", action="store_true", help="print only the token")

    def handle(self, *args, name, quiet, **options):
        try:
            record, token = service_token_create(name=name, actor="cli")
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        if quiet:
            self.stdout.write(token)
            return
        self.stdout.write(
            f"Service token '{record.name}' created. It is shown only now:\n"
        )
        self.stdout.write(f"    {token}\n")
        self.stdout.write("Use it as:  Authorization: Bearer <token>")
