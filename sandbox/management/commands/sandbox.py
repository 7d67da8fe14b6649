from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox.server import run_forever
from sandbox.state.errors import SandboxError
from sandbox.state.store import SandboxState


class Command(BaseCommand):
    help = (
        "Run the simulated upstream APIs (InsightSentry Organization API and market "
        "data REST API) in the foreground until Ctrl-C. State is in memory and starts "
        "fresh on every run."
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
        parser.add_argument(
            "--member",
            action="append",
            default=[],
            metavar="UID:PLAN",
            help=(
                "Create this member at start and print its market data key "
                "(repeatable), e.g. --member demo:pro --member quant:mega."
            ),
        )

    def handle(
        self,
        *args: Any,
        host: str,
        port: int | None,
        seed: int | None,
        member: list[str],
        **options: Any,
    ) -> None:
        port = settings.SANDBOX_PORT if port is None else port
        seed = settings.SANDBOX_SEED if seed is None else seed
        org_key = settings.SANDBOX_ORG_KEY
        state = SandboxState(
            org_key=org_key,
            seed=seed,
            email_domain=settings.ORG_MEMBER_EMAIL_DOMAIN,
        )
        members = [self._create_member(state, spec) for spec in member]

        def banner(url: str) -> None:
            ws = url.replace("http://", "ws://", 1)
            lines = [
                f"Sandbox listening on {url} (seed {seed})",
                f"  Organization API  {url}/api/organization/",
                f"  Organization key  {org_key}",
                f"  Market data API   {url}/v3/  (Authorization: Bearer <member key>)",
                f"  Market data WS    {ws}/live and {ws}/newsfeed  (api_key: a member "
                "key, or the organization key for pooled streams)",
                f"  Control API       {url}/_sandbox/ (faults, reset, state, usage, "
                "plans, market, live; loopback only)",
                "",
            ]
            if members:
                lines.append("Members (their market data keys):")
                for uid, plan, key in members:
                    lines.append(f"  {uid} ({plan})  {key}")
            else:
                lines += [
                    "Market data keys belong to members. Create one and use its "
                    "member.api_key:",
                    f"  curl -s -X POST {url}/api/organization/members/create \\",
                    f"    -H 'Authorization: Bearer {org_key}' \\",
                    "    -H 'Content-Type: application/json' "
                    '-d \'{"uid": "demo", "plan": "pro"}\'',
                    "  (or start with --member demo:pro to have it printed here)",
                ]
            lines += [
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
            run_forever(host, port, on_ready=banner, state=state)
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc}") from exc
        self.stdout.write("Sandbox stopped.")

    def _create_member(self, state: SandboxState, spec: str) -> tuple[str, str, str]:
        uid, _, plan = spec.partition(":")
        if not uid or not plan:
            raise CommandError(f"--member takes UID:PLAN, not {spec!r}")
        try:
            created = state.member_create(uid=uid, plan=plan, full_name=uid)
        except SandboxError as exc:
            raise CommandError(f"--member {spec}: {exc.message}") from exc
        return created.uid, created.plan.name, created.api_key
