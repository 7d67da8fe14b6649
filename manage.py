#!/usr/bin/env python
import logging
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orgportal.settings")
    # A command that cannot reach the database ends with one line saying why; the
    # pool's warning per failed connection attempt would only repeat it.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    from django.core.management import execute_from_command_line

    from orgportal.config import operator_message

    try:
        execute_from_command_line(sys.argv)
    except Exception as exc:
        # An operator's mistake (a bad setting, an unreachable database) is one line
        # naming what to fix; anything else is a bug and keeps its traceback.
        message = operator_message(exc)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
