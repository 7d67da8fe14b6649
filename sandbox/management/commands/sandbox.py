from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox.server import run_forever


class Command(BaseCommand):
    help = (
        "Run the simulated upstream APIs (InsightSentry Organization API) in the "
        "foreground until Ctrl-C. State is in memory and starts fresh on every run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port",
            type=int,
            default=None,
            help="TCP port (default: SANDBOX_PORT); 0 picks a free one.",
        )
        parser.add_argument(
            "--host",
            default="127.0.0.1",
            help="Interface to listen on (default: 127.0.0.1).",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=None,
            help="Seed of generated keys and injected faults (default: SANDBOX_SEED).",
        )

    def handle(
        self, *args: Any, host: str, port: int | None, seed: int | None, **options: Any
    ) -> None:
        port = settings.SANDBOX_PORT if port is None else port
        seed = settings.SANDBOX_SEED if seed is None else seed
        org_key = settings.SANDBOX_ORG_KEY

        def banner(url: str) -> None:
            lines = [
                f"Sandbox listening on {url} (seed {seed})",
                f"  Organization API  {url}/api/organization/",
                f"  Organization key  {org_key}",
                f"  Control API       {url}/_sandbox/ (faults, reset, state; "
                "loopback only)",
                "",
                "Point orgportal at it (these are the defaults when unset):",
                f"  UPSTREAM_ORG_URL={url}",
                f"  UPSTREAM_ORG_KEY={org_key}",
                "",
                "Press Ctrl-C to stop.",
            ]
            if host not in ("127.0.0.1", "localhost", "::1"):
                lines.insert(1, f"  Warning: listening on {host}, not only loopback.")
            self.stdout.write("\n".join(lines))
            self.stdout.flush()

        try:
            run_forever(
                host,
                port,
                org_key=org_key,
                seed=seed,
                email_domain=settings.ORG_MEMBER_EMAIL_DOMAIN,
                on_ready=banner,
            )
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc}") from exc
        self.stdout.write("Sandbox stopped.")
