"""run.py: one launcher per checkout, and earlier runs' logs kept.

A second `python3 run.py` in the same checkout would run a second stack on the same
data and truncate the first one's logs: it is refused, naming the running one."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from launcher import common, venv

ROOT = Path(__file__).resolve().parent.parent


def _holder(lock: Path, info: dict) -> subprocess.Popen:
    """Another process holding the launcher's lock until its stdin closes."""
    code = (
        "import json, sys; from pathlib import Path; from launcher import common; "
        "held = common.acquire_lock(Path(sys.argv[1]), json.loads(sys.argv[2])); "
        "print('held', flush=True); sys.stdin.read()"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(lock), json.dumps(info)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "held"
    return process


def _release(process: subprocess.Popen) -> None:
    process.stdin.close()
    process.wait(timeout=10)


def test_a_second_launcher_is_refused_naming_the_running_one(tmp_path):
    lock = tmp_path / "run.lock"
    info = {"pid": 4242, "web_port": 8040, "sandbox_port": 8041, "started": "T"}
    holder = _holder(lock, {**info})
    try:
        with pytest.raises(common.AlreadyRunning) as refused:
            common.acquire_lock(lock, {"pid": os.getpid()})
    finally:
        _release(holder)

    message = str(refused.value)
    assert "already running" in message
    assert "pid 4242" in message and "web port 8040" in message
    assert "sandbox port 8041" in message and "since T" in message


def test_the_lock_of_a_launcher_that_died_is_taken_over(tmp_path):
    lock = tmp_path / "run.lock"
    holder = _holder(lock, {"pid": 999_999, "web_port": 1, "sandbox_port": 2})
    holder.kill()  # no clean-up: the file stays, naming a dead pid
    holder.wait(timeout=10)
    assert lock.exists()

    held = common.acquire_lock(lock, {"pid": os.getpid(), "web_port": 8040})
    try:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    finally:
        held.close()


def test_the_previous_runs_logs_are_kept(tmp_path):
    log = tmp_path / "web.log"
    for run_number in range(1, 6):
        common.rotate_logs(log, keep=3)
        log.write_text(f"run {run_number}\n")

    assert log.read_text() == "run 5\n"
    assert (tmp_path / "web.log.1").read_text() == "run 4\n"
    assert (tmp_path / "web.log.3").read_text() == "run 2\n"
    assert not (tmp_path / "web.log.4").exists()


@pytest.fixture
def checkout(tmp_path):
    """A checkout of run.py of its own (its .run/ is not this one's), sharing this
    checkout's venv, so run.py goes straight to the launcher."""
    stamp = ROOT / ".venv" / ".requirements.sha256"
    if not stamp.exists() or stamp.read_text().strip() != venv.requirements_digest():
        pytest.skip("the venv does not hold requirements.txt as run.py would check")
    for name in ("run.py", "requirements.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "launcher", tmp_path / "launcher")
    (tmp_path / "orgportal").mkdir()
    shutil.copy(ROOT / "orgportal" / "envfile.py", tmp_path / "orgportal")
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    return tmp_path


def _launch(checkout: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WEB_PORT": "8040", "SANDBOX_PORT": "8041"}
    return subprocess.run(
        [sys.executable, str(checkout / "run.py")],
        cwd=checkout,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_python3_run_py_refuses_to_start_beside_a_running_one(checkout):
    (checkout / ".run" / "logs").mkdir(parents=True)
    (checkout / ".run" / "logs" / "web.log").write_text("the first run's log\n")
    info = {"pid": 4242, "web_port": 8000, "sandbox_port": 8001, "started": "T"}
    holder = _holder(checkout / ".run" / "run.lock", info)
    try:
        result = _launch(checkout)
    finally:
        _release(holder)

    assert result.returncode == 1
    assert result.stderr.startswith("error: orgportal is already running")
    assert "pid 4242" in result.stderr and "web port 8000" in result.stderr
    log = checkout / ".run" / "logs" / "web.log"
    assert log.read_text() == "the first run's log\n"


def test_python3_run_py_names_a_malformed_env_line(checkout):
    (checkout / ".env").write_text("WEB_PORT=8040\nnot a setting\n")

    result = _launch(checkout)

    assert result.returncode == 1
    assert result.stderr == "error: .env line 2: 'not a setting' is not NAME=VALUE\n"
