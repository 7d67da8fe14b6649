"""schemathesis against the served /api/schema/: for generated valid and invalid
requests to every operation, no 5xx and every response fits the schema."""

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.config import SchemathesisConfig

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))
# A schema-valid request may still be refused for business reasons the schema cannot
# express: 400 for a plan upstream does not offer or a reason with no text, 402 when the
# wallet cannot pay, 404 for an unknown member, 409 when the member is busy or inactive.
# What must never happen is a 5xx or a response outside the schema.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": [
                    "2xx",
                    "400",
                    "401",
                    "402",
                    "403",
                    "404",
                    "409",
                    "429",
                ]
            }
        }
    }
)


@pytest.fixture
def keep_connection():
    """Django's own test client keeps the test's connection across requests; a plain WSGI
    client does not, and closing it would end the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_the_api_never_fails_and_keeps_its_schema(
    db, funded, service_token, keep_connection
):
    from members.services import operations

    # given: one member to aim at, and the schema as the server serves it
    operations.member_create(uid="fuzz", plan="pro", actor="tests")
    schema = schemathesis.openapi.from_wsgi(
        "/api/schema/", get_wsgi_application(), config=CONFIG
    )
    headers = {"Authorization": f"Bearer {service_token}"}
    failures = []
    tested = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        tested += 1

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=os.environ.get("FUZZ_RANDOM") is None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case):
            case.call_and_validate(headers=headers)

        try:
            check()
        except (
            Exception
        ) as exc:  # collect every operation's failure, not just the first
            failures.append(f"{operation.label}: {exc}")
    assert tested >= 15
    assert not failures, "\n\n".join(failures)
