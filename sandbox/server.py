"""Running the sandbox: `SandboxServer` on a background thread (tests, benchmarks) and
`run_forever` in the foreground (the `sandbox` management command)."""

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable

from aiohttp import web

from sandbox.orgapi.app import create_app
from sandbox.state.store import (
    DEFAULT_EMAIL_DOMAIN,
    DEFAULT_ORG_KEY,
    DEFAULT_SEED,
    SandboxState,
)

# Seconds in-flight requests get to finish on stop. Short: a held-back (fault) response
# may be sleeping for its whole hang time, and nothing here needs a graceful drain.
SHUTDOWN_TIMEOUT = 0.25
START_TIMEOUT = 10.0


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _start(
    app: web.Application, host: str, port: int
) -> tuple[web.AppRunner, int]:
    """Listen on host:port (0 = any free port); returns the runner and the real port."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, runner.addresses[0][1]


class SandboxServer:
    """The sandbox on its own event loop in a daemon thread.

    with SandboxServer(org_key="k") as sandbox:
        httpx.get(f"{sandbox.url}/api/organization/plans", ...)
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        org_key: str = DEFAULT_ORG_KEY,
        seed: int = DEFAULT_SEED,
        email_domain: str = DEFAULT_EMAIL_DOMAIN,
        state: SandboxState | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.state = state or SandboxState(
            org_key=org_key, seed=seed, email_domain=email_domain
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return _url(self.host, self.port)

    def start(self) -> "SandboxServer":
        """Returns once the server is listening; raises what stopped it from listening."""
        if self._thread is not None:
            raise RuntimeError("the sandbox server is already started")
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(
            target=self._serve, name=f"sandbox-{self.host}:{self.port}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise RuntimeError("the sandbox server did not start in time")
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = None

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            try:
                runner, self.port = loop.run_until_complete(
                    _start(create_app(self.state), self.host, self.port)
                )
            except BaseException as exc:  # handed to start() in the caller's thread
                self._error = exc
                return
            self._loop = loop
            self._ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(runner.cleanup())
                # Held-back fault responses outlive the shutdown grace; end them here
                # rather than leave them to be destroyed with the loop.
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                loop.run_until_complete(
                    asyncio.gather(*pending, return_exceptions=True)
                )
        finally:
            self._loop = None
            self._ready.set()
            loop.close()


def run_forever(
    host: str = "127.0.0.1",
    port: int = 8001,
    *,
    org_key: str = DEFAULT_ORG_KEY,
    seed: int = DEFAULT_SEED,
    email_domain: str = DEFAULT_EMAIL_DOMAIN,
    on_ready: Callable[[str], None] | None = None,
    state: SandboxState | None = None,
) -> None:
    """Serve in the foreground until SIGINT (Ctrl-C) or SIGTERM, then return cleanly.
    `on_ready` gets the URL once the port is listening. A prepared `state` (e.g. with
    members already created) replaces the fresh one the other arguments describe."""
    if state is None:
        state = SandboxState(org_key=org_key, seed=seed, email_domain=email_domain)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_until_signal(create_app(state), host, port, on_ready))


async def _serve_until_signal(
    app: web.Application,
    host: str,
    port: int,
    on_ready: Callable[[str], None] | None,
) -> None:
    runner, bound_port = await _start(app, host, port)
    try:
        stop = asyncio.Event()
        # Ctrl-C is handled by asyncio.run (it cancels this task); SIGTERM is what
        # process supervisors send.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        if on_ready is not None:
            on_ready(_url(host, bound_port))
        await stop.wait()
    finally:
        await runner.cleanup()
