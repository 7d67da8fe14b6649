import json

import pytest
from django.core.management import call_command

from members.crypto import sha256_hex
from members.models import Member, ServiceToken
from members.services import operations

pytestmark = pytest.mark.django_db


def test_createservicetoken_prints_a_token_stored_only_as_a_hash(capsys):
    call_command("createservicetoken", "billing", "--quiet")
    token = capsys.readouterr().out.strip()
    record = ServiceToken.objects.get(name="billing")
    assert record.token_hash == sha256_hex(token)
    assert token not in str(ServiceToken.objects.values().get())


def test_demo_creates_an_organization_once(sandbox, capsys):
    call_command("demo", "--if-empty")
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["created"] is True and last["service_token"].startswith("ops_")
    assert last["gateway_key_alice"].count(".") == 2
    assert set(Member.objects.values_list("plan__name", flat=True)) >= {
        "pro",
        "ultra",
        "mega",
    }
    call_command("demo", "--if-empty")
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {
        "created": False
    }


def test_resolve_task_settles_an_operation_after_upstream_recovers(
    funded, sandbox, settings
):
    from members.tasks import operation_resolve, operations_resolve_pending

    settings.CELERY_TASK_ALWAYS_EAGER = True
    sandbox.state.faults_set(timeout_rate=1.0, hang_seconds=3, scope="all")
    outcome = operations.member_create(uid="m1", plan="pro", actor="tests")
    assert outcome.operation.status == "unknown"
    sandbox.state.faults_set(timeout_rate=0.0, scope="mutations")
    assert operation_resolve.apply(args=[outcome.operation.pk]).get() == "succeeded"
    assert operations_resolve_pending.apply().get() == 0
