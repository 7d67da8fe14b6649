"""The venv and its packages: created or brought up to date with requirements.txt,
then the command continues inside it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from launcher.common import REQUIREMENTS, ROOT, STAMP, VENV, fail, say


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
