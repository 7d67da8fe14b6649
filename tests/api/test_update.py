"""`members/{uid}/update` is one change: the plan and the settings sent with it are
applied together, or not at all."""

import pytest

from billing.services import ledger
from members.models import Member
from tests.rest import post

pytestmark = pytest.mark.django_db


def update(api, body):
    return post(api, "/members/m1/update", body)


def settings_of(uid="m1"):
    m = Member.objects.get(uid=uid)
    return m.plan.name, m.auto_renew, m.override_rate_limit


def test_a_refused_plan_change_changes_no_setting(api, member):
    # given: too few credits for mega
    ledger.ledger_adjust(
        amount=-ledger.wallet_available(ledger.account_system(ledger.WALLET)) + 100,
        reason="drain",
        actor="tests",
    )
    before = settings_of()
    # when
    r = update(
        api, {"plan": "mega", "auto_renew": False, "overrides": {"rate_limit": 5}}
    )
    # then
    assert r.status_code == 402 and r.json()["code"] == "INSUFFICIENT_CREDITS"
    assert settings_of() == before == ("pro", True, None)


def test_a_plan_change_upstream_refuses_changes_no_setting(api, member, sandbox):
    sandbox.state.faults_set(error_rate=1.0, scope="mutations")
    r = update(api, {"plan": "ultra", "auto_renew": False})
    sandbox.state.faults_set(error_rate=0.0, scope="mutations")
    assert r.status_code == 503
    assert settings_of() == ("pro", True, None)


def test_a_plan_change_applies_its_settings_with_it(api, member):
    r = update(api, {"plan": "ultra", "auto_renew": False, "overrides": {"quota": 7}})
    assert r.status_code == 200
    assert r.json()["member"]["auto_renew"] is False
    assert r.json()["member"]["overrides"]["quota"] == 7
    m = Member.objects.get(uid="m1")
    assert (m.plan.name, m.auto_renew, m.override_quota) == ("ultra", False, 7)


def test_settings_alone_change_without_money(api, member):
    wallet = ledger.account_system(ledger.WALLET).balance
    r = update(api, {"auto_renew": False})
    assert r.status_code == 200 and r.json()["member"]["auto_renew"] is False
    assert ledger.account_system(ledger.WALLET).balance == wallet
