"""How the settings read the environment, and what an operator sees when it is wrong.

Every rule here turns a mistake into ONE line naming the variable and what is wrong
with it (a ConfigError), instead of a traceback from deep inside Django or a driver:
`manage.py`, `run.py` and uvicorn print just that line (see `one_line_errors`).
"""

import ipaddress
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from orgportal import envfile

DATABASE_URL_HELP = "expected postgres://user:pass@host:5432/name or sqlite:///path"
_POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql", "psql"}
_TRUE = {"true", "yes", "y", "on", "ok", "1"}
_FALSE = {"false", "no", "n", "off", "0", ""}
_KIND = {int: "a whole number", float: "a number"}
LOOPBACK = ["127.0.0.0/8", "::1/128"]


class ConfigError(ImproperlyConfigured):
    """A setting the operator got wrong; str() is the whole message, one line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        # Raised while the settings load, it reaches the top of whatever process loads
        # them (uvicorn, celery): only there does a hook decide what is printed.
        one_line_errors()


def one_line_errors() -> None:
    """Print an uncaught ConfigError as `error: <message>` alone, no traceback."""
    previous = sys.excepthook
    if getattr(previous, "orgportal_one_line", False):
        return

    def hook(kind, value, traceback):
        message = operator_message(value)
        if message is None:
            previous(kind, value, traceback)
        else:
            print(f"error: {message}", file=sys.stderr, flush=True)

    hook.orgportal_one_line = True
    sys.excepthook = hook


def operator_message(exc: BaseException) -> str | None:
    """The one line for an operator's mistake, or None for anything else (a bug)."""
    if isinstance(exc, ConfigError):
        return str(exc)
    if isinstance(exc, envfile.EnvFileError):
        return str(exc)
    from django.db import OperationalError

    seen = exc
    while seen is not None:
        if isinstance(seen, OperationalError) or _is_psycopg_operational(seen):
            return database_problem(seen)
        seen = seen.__cause__ or seen.__context__
    return None


def _is_psycopg_operational(exc: BaseException) -> bool:
    try:
        import psycopg
    except ImportError:
        return False
    return isinstance(exc, psycopg.OperationalError)


# --- the environment --------------------------------------------------------------------


def load_env_file(path: Path) -> None:
    """Put the .env file's variables into the environment; the environment wins."""
    try:
        values = envfile.read(path)
    except envfile.EnvFileError as exc:
        raise ConfigError(str(exc)) from None
    for name, value in values.items():
        os.environ.setdefault(name, value)


def embedded_default() -> bool:
    """The run with no configuration: the SQLite database in .run/ of the checkout.

    Anything that must never be open to the network in production (metrics) may be
    opened to loopback only in this mode."""
    return not os.environ.get("DATABASE_URL", "").strip()


class Env(environ.Env):
    """django-environ, but a value that is not of its type is an error naming the
    variable: `DEBUG=maybe` would otherwise be read as false, silently."""

    def get_value(self, var, cast=None, default=environ.Env.NOTSET, **kwargs):
        raw = self.ENVIRON.get(f"{self.prefix}{var}")
        if (
            raw is not None
            and cast is bool
            and raw.strip().lower() not in _TRUE | _FALSE
        ):
            raise ConfigError(f"{var}: {raw!r} is not true/false")
        try:
            return super().get_value(var, cast=cast, default=default, **kwargs)
        except ValueError:
            if raw is None or cast not in _KIND:
                raise
            raise ConfigError(f"{var}: {raw!r} is not {_KIND[cast]}") from None

    def time_of_day(self, var: str, *, default: str) -> tuple[int, int]:
        """A UTC time of day, "HH:MM", as (hour, minute)."""
        value = self.str(var, default=default)
        try:
            hour, minute = (int(part) for part in value.split(":"))
            if 0 <= hour < 24 and 0 <= minute < 60:
                return hour, minute
        except ValueError:
            pass
        raise ConfigError(f"{var} must be a UTC time HH:MM, not {value!r}")

    def networks(self, var: str, *, default: list[str]) -> list[str]:
        """A comma-separated list of addresses or CIDR networks, normalised."""
        out = []
        for item in self.list(var, default=default):
            item = item.strip()
            if not item:
                continue
            try:
                out.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                raise ConfigError(
                    f"{var}: {item!r} is not an IP address or network "
                    "(expected e.g. 10.0.0.0/8,192.168.1.7)"
                ) from None
        return out


# --- the database -----------------------------------------------------------------------


def redact_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":…@", 1)
    return parts._replace(netloc=netloc).geturl()


def database(url: str, *, var: str = "DATABASE_URL") -> dict:
    """Django's DATABASES entry for a URL, or a ConfigError saying what is wrong."""
    shown = redact_url(url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _POSTGRES_SCHEMES | {"sqlite"}:
        raise ConfigError(
            f"{var}: {shown!r} is not a database URL ({DATABASE_URL_HELP})"
        )
    try:
        parts.port  # noqa: B018 - urllib checks the port only when asked
    except ValueError:
        raise ConfigError(
            f"{var}: {shown!r} has a port that is not a number ({DATABASE_URL_HELP})"
        ) from None
    if scheme == "sqlite":
        if not parts.path.strip("/") and parts.netloc != ":memory:":
            raise ConfigError(
                f"{var}: {shown!r} names no SQLite file ({DATABASE_URL_HELP})"
            )
    elif not parts.path.strip("/"):
        raise ConfigError(
            f"{var}: {shown!r} names no database after the host ({DATABASE_URL_HELP})"
        )
    return environ.Env.db_url_config(url)


def database_problem(exc: BaseException) -> str | None:
    """One line on why the configured database cannot be used, or None when the error
    is not about reaching it (an SQL error is a bug: it keeps its traceback).

    Behind psycopg's pool the error says only that no connection came within the
    pool's timeout; one direct connection attempt tells the real reason."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    text = str(exc)
    if db["ENGINE"] == "django.db.backends.sqlite3":
        if "unable to open database file" in text:
            return (
                f"SQLite database {db['NAME']} cannot be opened: does its directory "
                "exist, and may this user write there?"
            )
        if "no such table" in text:
            return (
                f"SQLite database {db['NAME']}: {_first_line(text)} — apply the "
                "migrations: python manage.py migrate"
            )
        return None
    if "couldn't get a connection" in text:
        text = _probe_postgres(db) or text
    return _postgres_reason(db, text)


def _probe_postgres(db: dict) -> str | None:
    import psycopg

    try:
        psycopg.connect(
            dbname=db.get("NAME") or None,
            user=db.get("USER") or None,
            password=db.get("PASSWORD") or None,
            host=db.get("HOST") or None,
            port=db.get("PORT") or None,
            connect_timeout=3,
        ).close()
    except psycopg.Error as exc:
        return str(exc)
    return None


def _postgres_reason(db: dict, text: str) -> str | None:
    host = db.get("HOST") or "localhost"
    where = f"{host}:{db.get('PORT') or 5432}"
    name, user = db.get("NAME") or "", db.get("USER") or ""
    url = redact_url(os.environ.get("DATABASE_URL", ""))
    lowered = text.lower()
    if "does not exist" in lowered and "database" in lowered:
        return (
            f"database {name!r} does not exist on {where} — create it with "
            f"createdb -h {host} -p {db.get('PORT') or 5432}"
            + (f" -U {user}" if user else "")
            + f" {name}"
        )
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return (
            f"database at {where} refused user {user!r} (wrong or missing password) "
            f"— check DATABASE_URL={url}"
        )
    if "role" in lowered and "does not exist" in lowered:
        return f"database at {where} has no user {user!r} — check DATABASE_URL={url}"
    reasons = {
        "connection refused": "connection refused",
        "timeout expired": "no answer within 3 s",
        "could not translate host name": "unknown host name",
        "name or service not known": "unknown host name",
        "no route to host": "no route to host",
        "couldn't get a connection": "no connection within the pool's timeout",
    }
    for needle, reason in reasons.items():
        if needle in lowered:
            return (
                f"database unreachable at {where} ({reason}) — is PostgreSQL running? "
                f"DATABASE_URL={url}"
            )
    return None


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"
