"""`python3 run.py`: the product. The sandbox, web and worker as child processes,
watched until Ctrl-C or SIGTERM, then stopped cleanly."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from launcher.common import (
    CREDENTIALS,
    LOCK,
    LOG_DIR,
    LOG_TAIL_LINES,
    MANAGE,
    READY_TIMEOUT_SECONDS,
    ROOT,
    STOP_GRACE_SECONDS,
    AlreadyRunning,
    acquire_lock,
    child_env,
    ensure_run_dirs,
    fail,
    load_dotenv,
    port_from_env,
    rotate_logs,
    say,
    web_command,
    worker_command,
)


class Stop(Exception):
    """SIGTERM (Ctrl-C arrives as KeyboardInterrupt): stop everything cleanly."""


class ChildDied(Exception):
    """A child process exited on its own: stop the others and fail."""


class Child:
    def __init__(self, name: str, argv: list[str]):
        self.name = name
        self.argv = argv
        self.log_path = LOG_DIR / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self, env: dict[str, str]) -> None:
        rotate_logs(self.log_path)
        with open(self.log_path, "wb") as log:
            # A session of its own: the terminal's Ctrl-C reaches only run.py, which
            # then stops each child's whole process group (celery's pool included).
            self.process = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def signal_leader(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)

    def signal_group(self, signum: int) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def group_alive(self) -> bool:
        if self.process is None:
            return False
        self.process.poll()  # reap the leader, or the group never looks empty
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(the log is empty)"


def raise_stop(signum, frame) -> None:
    raise Stop()


def stop_all(children: list[Child]) -> None:
    """SIGTERM each child, SIGKILL its whole process group after the grace period.

    SIGTERM goes to the leader only: celery's master then shuts its pool down itself,
    where a signal to every pool process would lose the tasks they were running.
    A second Ctrl-C skips the wait.
    """
    started = [child for child in children if child.group_alive()]
    if not started:
        return
    hurry = False

    def on_signal(signum, frame) -> None:
        nonlocal hurry
        hurry = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    say("Stopping " + ", ".join(child.name for child in started) + " ...")
    for child in started:
        child.signal_leader(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while not hurry and time.monotonic() < deadline:
        if not any(child.group_alive() for child in started):
            break
        time.sleep(0.1)
    for child in started:
        if child.group_alive():
            say(f"{child.name} did not stop in time; killing it")
            child.signal_group(signal.SIGKILL)
            child.process.wait()
    say("Stopped.")


def check_port_free(port: int, variable: str, what: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers do, so a port left in TIME_WAIT by the last run counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            fail(
                f"port {port} ({what}) is already in use. Stop whatever listens on it "
                f"(perhaps another orgportal), or choose another port, e.g. "
                f"{variable}={port + 10} python3 run.py"
            )


def run_manage(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, MANAGE, *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )


def output_tail(result: subprocess.CompletedProcess) -> str:
    output = (result.stdout + result.stderr).strip().splitlines()
    return "\n".join(output[-LOG_TAIL_LINES:])


def manage(args: list[str], env: dict[str, str], what: str) -> None:
    result = run_manage(args, env)
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if line.strip()]
        if len(errors) == 1 and errors[0].startswith("error: "):
            # manage.py's one line for an operator's mistake says all there is.
            fail(f"{what} failed: {errors[0].removeprefix('error: ')}")
        fail(
            f"{what} failed (manage.py {' '.join(args)}, exit {result.returncode}):\n"
            + output_tail(result)
        )


def answers(url: str, *, need_ok: bool) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= response.status < 300 or not need_ok
    except urllib.error.HTTPError:
        return not need_ok  # it answered, with an error status
    except (OSError, ValueError):
        return False


def check_children(children: list[Child]) -> None:
    for child in children:
        code = child.exit_code()
        if code is not None:
            how = f"exit code {code}"
            if code < 0:
                how = f"killed by signal {-code}, {signal.strsignal(-code)}"
            print(
                f"\nerror: the {child.name} process stopped unexpectedly ({how}). "
                f"Last lines of {child.log_path.relative_to(ROOT)}:\n"
                + child.log_tail(),
                file=sys.stderr,
                flush=True,
            )
            raise ChildDied(child.name)


def wait_until_answering(children: list[Child], checks: list[tuple[str, str, bool]]):
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    pending = list(checks)
    while pending:
        check_children(children)
        pending = [c for c in pending if not answers(c[1], need_ok=c[2])]
        if not pending:
            return
        if time.monotonic() > deadline:
            names = ", ".join(name for name, _, _ in pending)
            logs = ", ".join(
                str((LOG_DIR / f"{name}.log").relative_to(ROOT))
                for name, _, _ in pending
            )
            fail(f"{names} did not answer within {READY_TIMEOUT_SECONDS} s; see {logs}")
        time.sleep(0.3)


def load_demo(env: dict[str, str]) -> dict:
    """Create the demo organization on the first run; remember its login afterwards.

    The last line `manage.py demo` prints is JSON. A failure here is only a warning:
    the product runs without demo data, and the banner says how to make a login.
    """
    result = run_manage(["demo", "--if-empty"], env)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    try:
        demo = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        demo = None
    if result.returncode != 0 or not isinstance(demo, dict) or "created" not in demo:
        say(
            f"warning: creating the demo data failed (exit {result.returncode}):\n"
            + output_tail(result)
        )
        demo = {"created": False}
    if demo["created"]:
        write_credentials(demo)
        return demo
    try:
        return json.loads(CREDENTIALS.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def write_credentials(credentials: dict) -> None:
    fd = os.open(CREDENTIALS, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(
            {k: v for k, v in credentials.items() if k != "created"}, out, indent=2
        )
        out.write("\n")
    os.chmod(CREDENTIALS, 0o600)  # the mode above applies only to a new file


def banner(web_port: int, sandbox_port: int, credentials: dict) -> str:
    web = f"http://127.0.0.1:{web_port}"
    token = credentials.get("service_token")
    lines = [
        "",
        "=" * 72,
        "  orgportal is running",
        "=" * 72,
        f"  Portal         {web}/  (staff sign-in at {web}/login/)",
        f"  Django admin   {web}/admin/  (read-only data browser)",
        f"  API docs       {web}/api/docs/",
        f"  Market data    {web}/v3/...  and  ws://127.0.0.1:{web_port}/live, /newsfeed"
        "  (members' gateway keys)",
        f"  Accounts       ws://127.0.0.1:{web_port}/v1/accounts/ws  (Aries protocol;"
        " members with a brokerage link)",
        f"  Sandbox        http://127.0.0.1:{sandbox_port}  (simulated upstreams)",
        f"                 its keys: {LOG_DIR.relative_to(ROOT)}/sandbox.log",
        "",
    ]
    if credentials.get("admin_username"):
        lines += [
            f"  Owner login    {credentials['admin_username']}",
            f"  Password       {credentials.get('admin_password', '(not stored)')}",
        ]
        if credentials.get("viewer_username"):
            lines += [
                f"  Viewer login   {credentials['viewer_username']}",
                f"  Password       {credentials.get('viewer_password', '(not stored)')}",
            ]
    else:
        lines += [
            "  Admin login    none stored; create one: .venv/bin/python manage.py "
            "createsuperuser",
        ]
    if os.environ.get("WEBHOOK_ALLOW_PRIVATE_TARGETS", "").lower() not in (
        "false",
        "0",
        "no",
        "off",
    ):
        lines += [
            "  Webhooks       may target loopback and private addresses here "
            "(development default;",
            "                 WEBHOOK_ALLOW_PRIVATE_TARGETS=false refuses them, as "
            "production does)",
        ]
    if token:
        lines += [f"  Service token  {token}"]
    else:
        lines += [
            "  Service token  none stored; create one: .venv/bin/python manage.py "
            "createservicetoken NAME",
        ]
    extra = {
        key: value
        for key, value in credentials.items()
        if key
        not in {
            "created",
            "admin_username",
            "admin_password",
            "viewer_username",
            "viewer_password",
            "service_token",
        }
    }
    for key, value in extra.items():
        lines.append(f"  {key.replace('_', ' ').capitalize():<14} {value}")
    lines += [
        "",
        "  Try the API:",
        f'    curl -H "Authorization: Bearer {token or "<token>"}" \\',
        f"         {web}/api/organization/members",
        "",
        f"  Logs           {LOG_DIR.relative_to(ROOT)}/{{web,worker,sandbox}}.log",
        f"  Credentials    {CREDENTIALS.relative_to(ROOT)} (kept for later runs)",
        "",
        "  Press Ctrl-C to stop.",
        "=" * 72,
    ]
    return "\n".join(lines)


def command_serve() -> int:
    load_dotenv()
    web_port = port_from_env("WEB_PORT", 8000)
    sandbox_port = port_from_env("SANDBOX_PORT", 8001)
    if web_port == sandbox_port:
        fail(
            f"WEB_PORT and SANDBOX_PORT are both {web_port}; give them different ports"
        )
    ensure_run_dirs()
    # Before the port checks: a second launcher here is the likely reason they fail,
    # and its message says so where theirs would only name a port.
    try:
        lock = acquire_lock(
            LOCK,
            {
                "pid": os.getpid(),
                "web_port": web_port,
                "sandbox_port": sandbox_port,
                "started": dt.datetime.now().astimezone().isoformat(" ", "seconds"),
            },
        )
    except AlreadyRunning as exc:
        fail(str(exc))
    check_port_free(sandbox_port, "SANDBOX_PORT", "sandbox")
    check_port_free(web_port, "WEB_PORT", "web")
    env = child_env()
    env["WEB_PORT"] = str(web_port)
    env["SANDBOX_PORT"] = str(sandbox_port)

    python = sys.executable
    children = [
        Child("sandbox", [python, MANAGE, "sandbox", "--port", str(sandbox_port)]),
        Child("web", web_command(python, web_port)),
        Child(
            "worker",
            worker_command(python, "-B", "--loglevel", "INFO"),
        ),
    ]
    # Ctrl-C must stop us even where SIGINT was inherited as ignored (a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, raise_stop)
    try:
        say("Applying database migrations ...")
        manage(["migrate", "--noinput"], env, "migrating the database")
        manage(
            ["collectstatic", "--noinput", "-v", "0"], env, "collecting static files"
        )
        logs = LOG_DIR.relative_to(ROOT)
        say(f"Starting sandbox, web and worker (logs in {logs}/) ...")
        for child in children:
            child.start(env)
        wait_until_answering(
            children,
            [
                ("sandbox", f"http://127.0.0.1:{sandbox_port}/", False),
                ("web", f"http://127.0.0.1:{web_port}/healthz", True),
            ],
        )
        credentials = load_demo(env)
        check_children(children)
        say(banner(web_port, sandbox_port, credentials))
        while True:
            check_children(children)
            time.sleep(0.5)
    except (KeyboardInterrupt, Stop):
        say("")
        stop_all(children)
        return 0
    except ChildDied:
        stop_all(children)
        return 1
    except BaseException:
        stop_all(children)
        raise
    finally:
        lock.close()  # only now may another launcher start on this data
