#!/usr/bin/env python3
"""The two commands of orgportal.

    python3 run.py               run the whole product (sandbox, web, worker)
    python3 run.py test [ARGS]   run the test suite (pytest ARGS)

Both first make sure `.venv` exists and holds requirements.txt, then re-run this file
with the venv's Python. This file must therefore stay standard-library only: it runs on
a fresh machine before any dependency is installed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
REQUIREMENTS = ROOT / "requirements.txt"
STAMP = VENV / ".requirements.sha256"
RUN_DIR = ROOT / ".run"
LOG_DIR = RUN_DIR / "logs"
CREDENTIALS = RUN_DIR / "credentials.json"
LOCK = RUN_DIR / "run.lock"
MANAGE = str(ROOT / "manage.py")

READY_TIMEOUT_SECONDS = 90
STOP_GRACE_SECONDS = 10
LOG_TAIL_LINES = 30
LOGS_KEPT = 3  # earlier runs' logs: web.log.1 (the last run) to web.log.3
USAGE = """usage:
  python3 run.py               run orgportal: sandbox, web and worker
  python3 run.py test [ARGS]   run the test suite; ARGS go to pytest"""


def say(message: str = "") -> None:
    print(message, flush=True)


def fail(message: str, code: int = 1) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


# --- bootstrap: the venv and its packages ---------------------------------------------


def venv_python() -> Path:
    return VENV / "bin" / "python"


def running_in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def requirements_digest() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def venv_works() -> bool:
    python = venv_python()
    if not python.exists():
        return False
    probe = subprocess.run(
        [str(python), "-c", "import sys"], capture_output=True, check=False
    )
    return probe.returncode == 0


def ensure_venv() -> None:
    if not venv_works():
        import venv

        say(f"Creating a virtual environment in {VENV.name}/ ...")
        try:
            venv.EnvBuilder(with_pip=True, clear=VENV.exists()).create(VENV)
        except Exception as exc:  # ensurepip missing is the usual cause
            fail(
                f"could not create {VENV}: {exc}\n"
                "On Debian or Ubuntu, install the venv module first: "
                "apt-get install python3-venv"
            )
    digest = requirements_digest()
    if STAMP.exists() and STAMP.read_text().strip() == digest:
        return
    say("Installing requirements.txt into .venv/ (this can take a few minutes) ...")
    install = subprocess.run(
        [
            str(venv_python()),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "-r",
            str(REQUIREMENTS),
        ],
        check=False,
    )
    if install.returncode != 0:
        fail(
            "installing requirements.txt failed (see pip's output above); "
            "fix the cause and run the command again"
        )
    STAMP.write_text(digest + "\n")
    say("Dependencies installed.")


def bootstrap() -> None:
    """Make sure the venv is ready, then continue inside it (replaces this process)."""
    if sys.version_info < (3, 11):  # noqa: UP036 - run.py may start on an old python3
        fail(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}")
    if not REQUIREMENTS.exists():
        fail(f"{REQUIREMENTS} is missing; run this from a checkout of orgportal")
    ensure_venv()
    if not running_in_venv():
        python = str(venv_python())
        os.execv(python, [python, str(ROOT / "run.py"), *sys.argv[1:]])


# --- environment ----------------------------------------------------------------------


def load_dotenv() -> None:
    """Read .env with the settings' own rules (orgportal/envfile.py, standard library
    only), so run.py and Django agree on ports and URLs and on what is malformed.

    Variables already in the environment win, as in the settings.
    """
    # By path: importing the orgportal package would import Django and Celery.
    spec = importlib.util.spec_from_file_location(
        "orgportal_envfile", ROOT / "orgportal" / "envfile.py"
    )
    envfile = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(envfile)
    try:
        values = envfile.read(ROOT / ".env")
    except envfile.EnvFileError as exc:
        fail(str(exc))
    for key, value in values.items():
        os.environ.setdefault(key, value)


def port_from_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip() or str(default)
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        fail(f"{name}={raw!r} is not a port number (1-65535)")
    return int(raw)


def child_env() -> dict[str, str]:
    # Unbuffered, so a child's log is complete up to the moment it dies.
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def ensure_run_dirs() -> None:
    for path in (RUN_DIR, LOG_DIR, RUN_DIR / "broker", RUN_DIR / "broker-processed"):
        path.mkdir(parents=True, exist_ok=True)


# --- one launcher per checkout --------------------------------------------------------


class AlreadyRunning(Exception):
    """Another launcher holds the lock; the message names it."""


def acquire_lock(path: Path, info: dict):
    """Hold `path` locked (fcntl.flock) for as long as the returned file stays open,
    with `info` (pid, ports, start time) written in it for a second launcher to show.

    The kernel drops the lock when its holder dies, however it dies, so a lock file
    left by a dead launcher is simply taken over; its contents are never trusted.
    """
    import fcntl

    handle = open(path, "a+")  # noqa: SIM115 - held open for the whole run
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        text = handle.read()
        handle.close()
        raise AlreadyRunning(describe_holder(text)) from None
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps(info) + "\n")
    handle.flush()
    return handle


def describe_holder(text: str) -> str:
    try:
        info = json.loads(text)
        pid = int(info["pid"])
    except (ValueError, KeyError, TypeError):
        return (
            "another `python3 run.py` is starting from this checkout; wait for it, "
            "or stop it first"
        )
    return (
        f"orgportal is already running from this checkout (pid {pid}, web port "
        f"{info.get('web_port')}, sandbox port {info.get('sandbox_port')}, since "
        f"{info.get('started', '?')}). A second one on the same data in .run/ would "
        f"break it: stop it first (Ctrl-C in its terminal, or kill {pid}), or run "
        "the other copy from another checkout."
    )


def rotate_logs(path: Path, keep: int = LOGS_KEPT) -> None:
    """web.log -> web.log.1 -> ... -> web.log.<keep>: the last runs' logs survive."""
    for n in range(keep - 1, 0, -1):
        older = path.with_name(f"{path.name}.{n}")
        if older.exists():
            older.replace(path.with_name(f"{path.name}.{n + 1}"))
    if path.exists():
        path.replace(path.with_name(f"{path.name}.1"))


# --- `run.py test` --------------------------------------------------------------------


def command_test(args: list[str]) -> int:
    ensure_run_dirs()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *args], cwd=ROOT, env=child_env(), check=False
    )
    if result.returncode == 5:
        print(
            "error: pytest collected no tests; a test run that tests nothing is a "
            "failure (check the arguments or the test paths)",
            file=sys.stderr,
            flush=True,
        )
        return 1
    return result.returncode


# --- `run.py`: the product ------------------------------------------------------------


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
        Child(
            "web",
            [
                python,
                "-m",
                "uvicorn",
                "orgportal.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(web_port),
            ],
        ),
        Child(
            "worker",
            [python, "-m", "celery", "-A", "orgportal", "worker", "-B"]
            + ["--loglevel", "INFO"],
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


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"], ["help"]):
        say(USAGE)
        return 0
    if argv and argv[0] != "test":
        print(USAGE, file=sys.stderr)
        return 2
    bootstrap()
    os.chdir(ROOT)
    if argv:
        return command_test(argv[1:])
    return command_serve()


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        sys.exit(130)
