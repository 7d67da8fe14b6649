"""The service's own secrets: SECRET_KEY, FIELD_ENCRYPTION_KEYS, GATEWAY_KEY_SIGNING_SECRET.

Where they come from, decided once when the settings load:

- configured in the environment (or `.env`): used as they are, after validation;
- the embedded default (`orgportal.config.embedded_default`: no DATABASE_URL, the
  SQLite database in RUN_DIR): whatever is not configured is generated once into
  `<RUN_DIR>/secrets.json` (mode 0600), beside the database it protects, and read from
  there on every later start, by every process;
- a test run: whatever is not configured gets fixed test values, so tests never write
  into the checkout's `.run/`;
- anything else is a deployment, and a missing or malformed secret stops the start
  with one ConfigError (an ImproperlyConfigured) naming each of them.

This module reads no Django settings, so settings.py can call it. Print a fresh set
for a deployment with `python -m orgportal.keys`.
"""

import base64
import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

from orgportal.config import ConfigError

NAMES = ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "GATEWAY_KEY_SIGNING_SECRET")
SECRETS_FILE = "secrets.json"
# The fixed SECRET_KEY of earlier releases: published in the source, so never accepted.
PUBLISHED_SECRET_KEY = "orgportal-embedded-default-not-for-production"
# Django's own bar for a SECRET_KEY (`check --deploy`, security.W009).
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE = 5
# HS256 wants at least as many bytes of key as the hash has.
SIGNING_SECRET_MIN_LENGTH = 32

# Test runs only. Fixed so that a test database's encrypted rows stay readable across
# processes of one run (the gateway's, the worker's).
TEST_SECRETS = {
    "SECRET_KEY": "orgportal-tests-" + "t" * 40 + "-abcdefghij",
    "FIELD_ENCRYPTION_KEYS": "dGVzdHMtb25seS1maWVsZC1lbmNyeXB0aW9uLWtleSE=",
    "GATEWAY_KEY_SIGNING_SECRET": "orgportal-tests-gateway-key-signing-secret",
}


@dataclass(frozen=True)
class Secrets:
    secret_key: str
    field_encryption_keys: list[str]
    gateway_key_signing_secret: str
    # "environment", "embedded default (<path>)" or "tests"; for messages, never secret.
    source: str


def generate() -> dict[str, str]:
    return {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "GATEWAY_KEY_SIGNING_SECRET": secrets.token_urlsafe(48),
    }


def _split_keys(value: str) -> list[str]:
    return [part.strip() for part in value.split(",")]


def problems(values: Mapping[str, str]) -> dict[str, str]:
    """What is wrong with each secret, by name; empty when all three are usable.

    Messages never contain the values themselves."""
    found: dict[str, str] = {}
    secret_key = values.get("SECRET_KEY", "").strip()
    if not secret_key:
        found["SECRET_KEY"] = "is not set"
    elif secret_key == PUBLISHED_SECRET_KEY:
        found["SECRET_KEY"] = "is the published default of earlier releases"
    elif (
        len(secret_key) < SECRET_KEY_MIN_LENGTH
        or len(set(secret_key)) < SECRET_KEY_MIN_UNIQUE
        or secret_key.startswith("django-insecure-")
    ):
        found["SECRET_KEY"] = (
            f"is too weak (at least {SECRET_KEY_MIN_LENGTH} random characters)"
        )
    keys = values.get("FIELD_ENCRYPTION_KEYS", "").strip()
    if not keys:
        found["FIELD_ENCRYPTION_KEYS"] = "is not set"
    else:
        bad = []
        for position, key in enumerate(_split_keys(keys), start=1):
            try:
                Fernet(key)
            except (ValueError, TypeError):
                bad.append(str(position))
        if bad:
            found["FIELD_ENCRYPTION_KEYS"] = (
                f"has {'an entry' if len(bad) == 1 else 'entries'} that "
                f"{'is not a Fernet key' if len(bad) == 1 else 'are not Fernet keys'} "
                f"(position {', '.join(bad)} of the comma-separated list; each must be "
                "32 url-safe base64-encoded bytes, the first one encrypts)"
            )
    signing = values.get("GATEWAY_KEY_SIGNING_SECRET", "").strip()
    if not signing:
        found["GATEWAY_KEY_SIGNING_SECRET"] = "is not set"
    elif len(signing) < SIGNING_SECRET_MIN_LENGTH:
        found["GATEWAY_KEY_SIGNING_SECRET"] = (
            f"is too short (at least {SIGNING_SECRET_MIN_LENGTH} random characters)"
        )
    return found


def _refuse(found: Mapping[str, str], where: str) -> ConfigError:
    listed = "; ".join(f"{name} {problem}" for name, problem in found.items())
    return ConfigError(
        f"{where}: {listed}. Set {', '.join(found)} in the environment or .env "
        "(`python -m orgportal.keys` prints a fresh set; keep FIELD_ENCRYPTION_KEYS "
        "safe, the stored upstream keys cannot be read without it)."
    )


def _read_file(path: Path) -> dict[str, str]:
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{path} cannot be read as the embedded default's secrets ({exc}); "
            "delete it to generate new ones (data encrypted with the old ones is lost)"
        ) from None
    if not isinstance(stored, dict) or not all(
        isinstance(stored.get(name), str) for name in NAMES
    ):
        raise ConfigError(
            f"{path} lacks some of {', '.join(NAMES)}; delete it to generate new ones"
        )
    return stored


def embedded_secrets_file(run_dir: Path) -> dict[str, str]:
    """The embedded default's secrets, generated on the first start and reused after.

    Two processes starting at once both try to create the file; exactly one wins and
    both use what it wrote. The file is complete before it appears under its name:
    written under a name of its own (O_EXCL, 0600), then hard-linked into place, which
    fails if the name exists."""
    path = run_dir / SECRETS_FILE
    if path.exists():
        return _read_file(path)
    run_dir.mkdir(parents=True, exist_ok=True)
    scratch = run_dir / f".{SECRETS_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(generate(), out, indent=2)
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(scratch, path)
    finally:
        scratch.unlink(missing_ok=True)
    return _read_file(path)


def legacy_field_key() -> str:
    """The Fernet key earlier releases derived from the published SECRET_KEY.

    The embedded default keeps it as a last, decrypt-only key so a `.run/` database made
    by an earlier release still reads; everything new is encrypted with the first key."""
    digest = hashlib.sha256(("field-encryption:" + PUBLISHED_SECRET_KEY).encode())
    return base64.urlsafe_b64encode(digest.digest()).decode()


def secrets_load(
    env: Mapping[str, str], *, run_dir: Path, embedded: bool, testing: bool
) -> Secrets:
    configured = {name: env.get(name, "").strip() for name in NAMES}
    if all(configured.values()):
        source, fallback = "environment", {}
    elif testing:
        source, fallback = "tests", TEST_SECRETS
    elif embedded:
        path = run_dir / SECRETS_FILE
        source, fallback = f"embedded default ({path})", embedded_secrets_file(run_dir)
    else:
        source, fallback = "environment", {}
    values = {name: configured[name] or fallback.get(name, "") for name in NAMES}
    found = problems(values)
    if found:
        if source == "environment":
            where = (
                "orgportal refuses to start without its secrets outside the embedded "
                "default (DATABASE_URL is set)"
            )
        else:
            where = f"orgportal's secrets are unusable (from the {source})"
        raise _refuse(found, where)
    keys = _split_keys(values["FIELD_ENCRYPTION_KEYS"])
    if source.startswith("embedded") and not configured["FIELD_ENCRYPTION_KEYS"]:
        keys.append(legacy_field_key())
    return Secrets(
        secret_key=values["SECRET_KEY"],
        field_encryption_keys=keys,
        gateway_key_signing_secret=values["GATEWAY_KEY_SIGNING_SECRET"],
        source=source,
    )


if __name__ == "__main__":
    for name, value in generate().items():
        print(f"{name}={value}")
