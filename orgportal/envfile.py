"""The `.env` file beside manage.py: one NAME=VALUE per line.

Standard library only: run.py reads the same file with these rules before Django (or
any dependency) is imported, so the launcher and the settings agree on every value.

A line is blank, a comment (`#` first), or `NAME=VALUE` with an optional `export `
before it; a value in matching single or double quotes loses them. Anything else is an
error naming the line, because a silently skipped line is a setting the operator
believes is in force.
"""

import re
from pathlib import Path

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class EnvFileError(ValueError):
    """A line that is not NAME=VALUE; the message names the file's line."""


def parse(text: str, *, label: str = ".env") -> dict[str, str]:
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line.removeprefix("export ").lstrip()
        name, equals, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if not equals or not _NAME.fullmatch(name):
            shown = line if len(line) <= 40 else line[:37] + "..."
            # Only what stands left of "=": the value may be a secret.
            if equals:
                shown = name if len(name) <= 40 else name[:37] + "..."
            raise EnvFileError(f"{label} line {number}: {shown!r} is not NAME=VALUE")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name] = value
    return values


def read(path: Path) -> dict[str, str]:
    """The file's variables, or nothing when there is no file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    return parse(text, label=path.name)
