"""The service's secrets: refused when missing outside the embedded default, generated
once by the embedded default, validated, and a deployment's `check --deploy` clean."""

import json
import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from members import crypto
from orgportal import keys
from orgportal.config import ConfigError

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION_DB = "postgres://orgportal:pw@db.internal:5432/orgportal"
# Emptied rather than dropped: a .env file beside manage.py must not fill them in (the
# environment wins over it). The rest are dropped so the settings' defaults apply.
EMPTIED = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEYS",
    "GATEWAY_KEY_SIGNING_SECRET",
)
DROPPED = (
    "PYTEST_VERSION",  # the settings would take this for a test run
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
)


def good_secrets() -> dict[str, str]:
    return keys.generate()


def manage(*args: str, run_dir: Path, **env: str) -> subprocess.CompletedProcess:
    """manage.py in a process of its own, as an operator would start it (not a test)."""
    environment = {k: v for k, v in os.environ.items() if k not in DROPPED}
    environment.update(dict.fromkeys(EMPTIED, ""))
    environment.update(DEBUG="false", RUN_DIR=str(run_dir), **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- outside the embedded default -----------------------------------------------------


def test_a_deployment_without_secrets_refuses_to_start_naming_all_three(tmp_path):
    result = manage("check", run_dir=tmp_path, DATABASE_URL=PRODUCTION_DB)
    assert result.returncode != 0
    for name in keys.NAMES:
        assert f"{name} is not set" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "secrets.json").exists()
    # given them, the same start succeeds
    result = manage(
        "check", run_dir=tmp_path, DATABASE_URL=PRODUCTION_DB, **good_secrets()
    )
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "secrets.json").exists()


def test_a_deployment_with_one_secret_missing_names_only_that_one(tmp_path):
    given = good_secrets()
    del given["GATEWAY_KEY_SIGNING_SECRET"]
    result = manage("check", run_dir=tmp_path, DATABASE_URL=PRODUCTION_DB, **given)
    assert result.returncode != 0
    assert "GATEWAY_KEY_SIGNING_SECRET is not set" in result.stderr
    assert "SECRET_KEY is not set" not in result.stderr


def test_a_malformed_encryption_key_is_named_without_echoing_it(tmp_path):
    given = good_secrets()
    given["FIELD_ENCRYPTION_KEYS"] = given["FIELD_ENCRYPTION_KEYS"] + ",not-a-key-xyz"
    result = manage("check", run_dir=tmp_path, DATABASE_URL=PRODUCTION_DB, **given)
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS" in result.stderr
    assert "position 2" in result.stderr
    assert "not-a-key-xyz" not in result.stderr


def test_check_deploy_is_clean_with_a_deployments_defaults(tmp_path):
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        run_dir=tmp_path,
        DATABASE_URL=PRODUCTION_DB,
        REDIS_URL="redis://redis.internal:6379/0",
        ALLOWED_HOSTS="portal.example.com",
        CSRF_TRUSTED_ORIGINS="https://portal.example.com",
        UPSTREAM_ORG_URL="https://insightsentry.example.com",
        UPSTREAM_ORG_KEY="real-org-key",
        **good_secrets(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


# --- the embedded default -------------------------------------------------------------


def test_the_embedded_default_generates_its_secrets_once_and_reuses_them(tmp_path):
    script = (
        "import hashlib, django; django.setup(); from django.conf import settings as s;"
        "print(hashlib.sha256((s.SECRET_KEY + s.GATEWAY_KEY_SIGNING_SECRET"
        " + s.FIELD_ENCRYPTION_KEYS[0]).encode()).hexdigest())"
    )
    first = manage("shell", "-c", script, run_dir=tmp_path)
    assert first.returncode == 0, first.stderr
    path = tmp_path / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert keys.problems(stored) == {}
    assert stored["SECRET_KEY"] != keys.PUBLISHED_SECRET_KEY
    second = manage("shell", "-c", script, run_dir=tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout
    assert json.loads(path.read_text()) == stored


def test_processes_racing_to_create_the_secrets_agree(tmp_path):
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(lambda _: keys.embedded_secrets_file(tmp_path), range(16))
        )
    assert all(result == results[0] for result in results)
    assert [p.name for p in tmp_path.iterdir()] == ["secrets.json"]


def test_the_embedded_default_still_reads_what_earlier_releases_encrypted(tmp_path):
    loaded = keys.secrets_load({}, run_dir=tmp_path, embedded=True, testing=False)
    old = Fernet(keys.legacy_field_key()).encrypt(b"sandbox-member-key").decode()
    assert loaded.field_encryption_keys[-1] == keys.legacy_field_key()
    # the generated key encrypts; the legacy one only decrypts
    assert loaded.field_encryption_keys[0] != keys.legacy_field_key()
    from cryptography.fernet import MultiFernet

    fernet = MultiFernet([Fernet(k) for k in loaded.field_encryption_keys])
    assert fernet.decrypt(old.encode()) == b"sandbox-member-key"
    with pytest.raises(Exception):  # noqa: B017 - any failure: the new key encrypts
        Fernet(keys.legacy_field_key()).decrypt(fernet.encrypt(b"x"))


def test_a_configured_deployment_never_falls_back_to_a_derived_key(tmp_path):
    with pytest.raises(ConfigError) as refused:
        keys.secrets_load(
            {"SECRET_KEY": keys.PUBLISHED_SECRET_KEY},
            run_dir=tmp_path,
            embedded=False,
            testing=False,
        )
    message = str(refused.value)
    assert "SECRET_KEY is the published default" in message
    assert "FIELD_ENCRYPTION_KEYS is not set" in message
    assert "GATEWAY_KEY_SIGNING_SECRET is not set" in message


def test_weak_secrets_are_refused():
    found = keys.problems(
        {
            "SECRET_KEY": "short",
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode() + ",",
            "GATEWAY_KEY_SIGNING_SECRET": "tiny",
        }
    )
    assert set(found) == set(keys.NAMES)
    assert "position 2" in found["FIELD_ENCRYPTION_KEYS"]


# --- the keys in use ------------------------------------------------------------------


def test_no_key_is_derived_from_secret_key_any_more(settings):
    settings.FIELD_ENCRYPTION_KEYS = []
    settings.GATEWAY_KEY_SIGNING_SECRET = ""
    with pytest.raises(Exception, match="FIELD_ENCRYPTION_KEYS"):
        crypto.encrypt("x")
    with pytest.raises(Exception, match="GATEWAY_KEY_SIGNING_SECRET"):
        crypto.signing_secret()
