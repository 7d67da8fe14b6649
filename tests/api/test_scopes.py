"""Service token scopes: which operations each scope opens, the one table behind them,
and how tokens get them (service, command, migration)."""

import importlib

import pytest
from django.apps import apps as django_apps
from django.core.management import CommandError, call_command

from billing.models import LedgerTransaction
from members import scopes
from members.auth import ServiceTokenScopes
from members.models import ServiceToken
from members.services.keys import service_token_create
from notifications.models import WebhookEndpoint
from tests.rest import BASE, post

pytestmark = pytest.mark.django_db


def implemented_methods(view_class) -> list[str]:
    return [
        m.upper()
        for m in view_class.http_method_names
        if m not in ("head", "options") and hasattr(view_class, m)
    ]


# --- the table -------------------------------------------------------------------------


def test_every_api_route_and_method_has_a_scope_in_the_table():
    routes = scopes.api_routes()
    assert len(routes) > 20  # the walk found the API, not nothing
    missing = []
    for name, route, view_class in routes:
        for method in implemented_methods(view_class):
            listed, _ = scopes.scope_required(name, method)
            if not listed:
                missing.append(f"{method} {route} (url name {name!r})")
    assert missing == [], "add these to members.scopes.REQUIRED_SCOPES"


def test_every_table_entry_names_a_real_route():
    names = {name for name, _route, _view in scopes.api_routes()}
    assert set(scopes.REQUIRED_SCOPES) - names == set()


def test_every_token_route_is_guarded_by_the_scope_permission():
    for name, route, view_class in scopes.api_routes():
        if set(scopes.REQUIRED_SCOPES[name].values()) == {scopes.PUBLIC}:
            continue
        guards = view_class().get_permissions()
        assert any(isinstance(p, ServiceTokenScopes) for p in guards), route


def test_money_out_of_thin_air_needs_admin():
    assert scopes.scope_required("organization:ledger-adjustments", "POST") == (
        True,
        scopes.ADMIN,
    )
    assert scopes.scope_required("organization:credits-refund", "POST") == (
        True,
        scopes.ADMIN,
    )
    assert scopes.scope_required("organization:credits-purchase", "POST") == (
        True,
        scopes.CREDITS,
    )


# --- enforcement -----------------------------------------------------------------------


def test_a_read_token_reads_but_changes_nothing(scoped_api, funded):
    reader = scoped_api("read")
    assert reader.get(BASE + "/balance").status_code == 200
    assert reader.get(BASE + "/members").status_code == 200
    r = post(reader, "/members/create", {"uid": "zoe", "plan": "pro"})
    assert r.status_code == 403
    assert r.json()["code"] == "INSUFFICIENT_SCOPE"
    assert r.json()["details"] == {"required": "members", "token_scopes": ["read"]}


def test_a_members_token_changes_members_but_buys_and_reads_nothing(scoped_api, funded):
    changer = scoped_api("members")
    r = post(changer, "/members/create", {"uid": "zoe", "plan": "pro"})
    assert r.status_code == 200, r.content
    assert r.json()["member"]["uid"] == "zoe"
    r = post(changer, "/credits/purchase", {"credits": 10})
    assert (r.status_code, r.json()["details"]["required"]) == (403, "credits")
    r = changer.get(BASE + "/members/zoe")
    assert (r.status_code, r.json()["details"]["required"]) == (403, "read")


def test_a_credits_token_buys_credits_only(scoped_api, funded):
    buyer = scoped_api("credits")
    r = post(buyer, "/credits/purchase", {"credits": 10})
    assert r.status_code == 200, r.content
    r = post(buyer, "/members/create", {"uid": "zoe", "plan": "pro"})
    assert (r.status_code, r.json()["details"]["required"]) == (403, "members")


def test_refund_without_admin_is_refused_in_the_documented_shape(scoped_api, funded):
    everything_but_admin = scoped_api("read", "members", "credits")
    before = LedgerTransaction.objects.count()
    r = post(everything_but_admin, "/credits/refund", {"credits": 10})
    assert r.status_code == 403
    assert r.json() == {
        "success": False,
        "error": "This token lacks the 'admin' scope needed for "
        "POST /api/organization/credits/refund",
        "code": "INSUFFICIENT_SCOPE",
        "details": {
            "required": "admin",
            "token_scopes": ["read", "members", "credits"],
        },
    }
    assert LedgerTransaction.objects.count() == before


def test_adjustment_without_admin_mints_nothing(scoped_api, funded):
    token = scoped_api("read", "members", "credits")
    before = token.get(BASE + "/balance").json()["balance"]
    r = post(token, "/ledger/adjustments", {"amount": "1000.00", "reason": "free"})
    assert (r.status_code, r.json()["code"]) == (403, "INSUFFICIENT_SCOPE")
    assert r.json()["details"]["required"] == "admin"
    assert token.get(BASE + "/balance").json()["balance"] == before


def test_admin_implies_every_other_scope(scoped_api, funded):
    admin = scoped_api("admin")
    assert admin.get(BASE + "/balance").status_code == 200
    r = post(admin, "/ledger/adjustments", {"amount": "5.00", "reason": "goodwill"})
    assert r.status_code in (200, 201), r.content
    r = post(admin, "/credits/refund", {"credits": 10})
    assert r.status_code == 200, r.content
    r = post(admin, "/members/create", {"uid": "zoe", "plan": "pro"})
    assert r.status_code == 200, r.content


def test_webhook_endpoints_are_admin_but_readable_with_read(scoped_api):
    reader = scoped_api("read", "members", "credits")
    assert reader.get(BASE + "/webhooks").status_code == 200
    r = post(reader, "/webhooks", {"url": "https://hooks.example.com/x"})
    assert (r.status_code, r.json()["details"]["required"]) == (403, "admin")
    assert not WebhookEndpoint.objects.exists()


def test_a_token_without_scopes_can_call_nothing(db):
    from rest_framework.test import APIClient

    from members.crypto import sha256_hex
    from orgportal import clock

    # Made by hand, as the model's default leaves it.
    ServiceToken.objects.create(
        name="bare",
        token_hash=sha256_hex("ops_bare"),
        prefix="ops_bare",
        created_at=clock.now(),
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer ops_bare")
    r = client.get(BASE + "/balance")
    assert (r.status_code, r.json()["details"]) == (
        403,
        {"required": "read", "token_scopes": []},
    )


def test_a_route_missing_from_the_table_is_refused_not_open(scoped_api, monkeypatch):
    table = dict(scopes.REQUIRED_SCOPES)
    del table["organization:balance"]
    monkeypatch.setattr(scopes, "REQUIRED_SCOPES", table)
    r = scoped_api("admin").get(BASE + "/balance")
    assert (r.status_code, r.json()["code"]) == (403, "INSUFFICIENT_SCOPE")


def test_no_token_is_still_401_and_an_unknown_method_still_405(scoped_api, db):
    from rest_framework.test import APIClient

    assert APIClient().get(BASE + "/balance").status_code == 401
    assert scoped_api("read").put(BASE + "/balance").status_code == 405


def test_the_schema_names_the_scope_of_each_operation(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    refund = paths["/api/organization/credits/refund"]["post"]
    assert refund["security"] == [{"serviceToken": ["admin"]}]
    assert paths["/api/organization/balance"]["get"]["security"] == [
        {"serviceToken": ["read"]}
    ]
    assert paths["/api/organization/credits/purchase"]["post"]["security"] == [
        {"serviceToken": ["credits"]}
    ]


# --- how tokens get scopes --------------------------------------------------------------


def test_scopes_are_stored_in_canonical_order_without_duplicates():
    record, _ = service_token_create(
        name="x", scopes=["admin", "READ", "read"], actor="tests"
    )
    assert record.scopes == ["read", "admin"]


def test_an_unknown_scope_or_none_at_all_is_refused():
    from members.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match="Unknown scope 'root'"):
        service_token_create(name="x", scopes=["read", "root"], actor="tests")
    with pytest.raises(ValidationFailed, match="at least one scope"):
        service_token_create(name="x", scopes=[], actor="tests")
    assert not ServiceToken.objects.exists()


def test_createservicetoken_takes_repeated_scopes(capsys):
    call_command(
        "createservicetoken", "billing", "--scope", "read", "--scope", "members"
    )
    out = capsys.readouterr().out
    assert "read, members" in out
    assert ServiceToken.objects.get(name="billing").scopes == ["read", "members"]


def test_createservicetoken_without_scope_gets_everything_but_admin(capsys):
    call_command("createservicetoken", "billing", "--quiet")
    assert ServiceToken.objects.get().scopes == ["read", "members", "credits"]


def test_createservicetoken_names_an_unknown_scope():
    with pytest.raises(CommandError, match="Unknown scope 'wrte'.*read, members"):
        call_command("createservicetoken", "billing", "--scope", "wrte")
    assert not ServiceToken.objects.exists()


def test_migration_gives_tokens_from_before_scopes_every_scope():
    from orgportal import clock

    migration = importlib.import_module("members.migrations.0007_service_token_scopes")
    old = ServiceToken.objects.create(
        name="old", token_hash="a" * 64, prefix="ops_aaaa", created_at=clock.now()
    )
    assert old.scopes == []  # what AddField leaves on existing rows
    migration.existing_tokens_keep_every_scope(django_apps, None)
    old.refresh_from_db()
    assert old.scopes == ["read", "members", "credits", "admin"]
    assert old.scopes == list(scopes.LEGACY_SCOPES)
