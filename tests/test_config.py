"""An operator's configuration mistake ends the command with one line naming the
variable and what is wrong, never a traceback: in manage.py, uvicorn and the .env file.
Each case runs the real entry point in a subprocess, as an operator would."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orgportal import config, envfile

ROOT = Path(__file__).resolve().parent.parent


def _run(args, **env):
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "DEBUG", "DJANGO_SETTINGS_MODULE")
    }
    # Nothing else may talk: the warning the embedded default logs about webhooks
    # would be a second line.
    environment["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = "false"
    environment.update(env)
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _one_line(result) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_database_url_that_is_not_one(tmp_path):
    line = _one_line(_run(["manage.py", "check"], DATABASE_URL="garbage"))

    assert line == (
        "error: DATABASE_URL: 'garbage' is not a database URL (expected "
        "postgres://user:pass@host:5432/name or sqlite:///path)"
    )


def test_a_database_url_without_a_database_name_hides_its_password():
    line = _one_line(
        _run(["manage.py", "check"], DATABASE_URL="postgres://u:hunter22@db:5432")
    )

    assert line.startswith("error: DATABASE_URL: ")
    assert "names no database" in line
    assert "hunter22" not in line


def test_debug_that_is_not_true_or_false():
    line = _one_line(_run(["manage.py", "check"], DEBUG="maybe"))

    assert line == "error: DEBUG: 'maybe' is not true/false"


def test_a_number_setting_that_is_not_a_number():
    line = _one_line(_run(["manage.py", "check"], WEBHOOK_TIMEOUT="ten"))

    assert line == "error: WEBHOOK_TIMEOUT: 'ten' is not a number"


def test_uvicorn_prints_the_same_one_line(closed_port):
    result = _run(
        [
            "-m",
            "uvicorn",
            "orgportal.asgi:application",
            "--port",
            str(closed_port),
        ],
        DEBUG="maybe",
    )

    assert _one_line(result) == "error: DEBUG: 'maybe' is not true/false"


def test_an_unreachable_database(closed_port):
    url = f"postgres://orgportal:pw-never-shown@127.0.0.1:{closed_port}/orgportal"

    line = _one_line(
        _run(["manage.py", "migrate"], DATABASE_URL=url, DATABASE_POOL_TIMEOUT="1")
    )

    assert line == (
        f"error: database unreachable at 127.0.0.1:{closed_port} (connection "
        "refused) — is PostgreSQL running? "
        f"DATABASE_URL=postgres://orgportal:…@127.0.0.1:{closed_port}/orgportal"
    )


@pytest.mark.postgres
def test_a_database_that_does_not_exist(settings):
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL)")
    db = settings.DATABASES["default"]
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    url = f"postgres://{auth}@{host}:{port}/orgportal_no_such_db"

    line = _one_line(
        _run(["manage.py", "migrate"], DATABASE_URL=url, DATABASE_POOL_TIMEOUT="1")
    )

    assert line.startswith(
        f"error: database 'orgportal_no_such_db' does not exist on {host}:{port} — "
        "create it with createdb "
    )
    assert line.endswith(" orgportal_no_such_db")


def test_a_malformed_env_file_line_is_named(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# settings\nWEB_PORT=8010\n\nexport A='b'\nFOO\n")

    result = _run(
        [
            "-c",
            "import sys; from pathlib import Path; from orgportal import config; "
            "config.load_env_file(Path(sys.argv[1]))",
            str(env_file),
        ]
    )

    assert _one_line(result) == "error: .env line 5: 'FOO' is not NAME=VALUE"


def test_env_file_rules():
    assert envfile.parse("A=1\nexport B = 'two words'\n# c\nC=\"x=y\"\n") == {
        "A": "1",
        "B": "two words",
        "C": "x=y",
    }
    with pytest.raises(envfile.EnvFileError, match=r"line 1: 'BAD NAME'"):
        envfile.parse("BAD NAME=secret-value")
    with pytest.raises(envfile.EnvFileError) as raised:
        envfile.parse("\n\nPASSWORD secret-value")
    assert str(raised.value).startswith(".env line 3: ")


def test_metrics_are_open_to_loopback_only_on_the_embedded_default():
    show = [
        "-c",
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.METRICS_ALLOWED_IPS)",
    ]
    environment = {"DJANGO_SETTINGS_MODULE": "orgportal.settings"}

    embedded = _run(show, **environment)
    deployed = _run(show, DATABASE_URL="postgres://u@127.0.0.1:1/x", **environment)

    assert embedded.stdout.strip() == "['127.0.0.0/8', '::1/128']", embedded.stderr
    assert deployed.stdout.strip() == "[]", deployed.stderr


def test_trusted_proxies_must_be_networks():
    env = config.Env()
    env.ENVIRON = {"TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7,nonsense"}

    with pytest.raises(config.ConfigError) as raised:
        env.networks("TRUSTED_PROXIES", default=[])

    assert str(raised.value).startswith("TRUSTED_PROXIES: 'nonsense' is not an IP")
