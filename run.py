#!/usr/bin/env python3
"""The two commands of orgportal.

    python3 run.py               run the whole product (sandbox, web, worker)
    python3 run.py test [ARGS]   run the test suite (pytest ARGS)

Both first make sure `.venv` exists and holds requirements.txt, then re-run this file
with the venv's Python. This file must therefore stay standard-library only: it runs on
a fresh machine before any dependency is installed.
"""

from __future__ import annotations

import os
import subprocess
import sys

from launcher.common import ROOT, child_env, ensure_run_dirs, say
from launcher.serve import command_serve
from launcher.venv import bootstrap

USAGE = """usage:
  python3 run.py               run orgportal: sandbox, web and worker
  python3 run.py test [ARGS]   run the test suite; ARGS go to pytest"""


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
