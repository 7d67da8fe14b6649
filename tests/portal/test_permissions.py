"""Roles on every portal view: viewer < admin < owner, a superuser counts as owner."""

import pytest
from django.test import Client
from django.urls import URLPattern, reverse

from billing.models import LedgerTransaction
from billing.services import ledger
from members.models import AuditEvent, GatewayKey, Member
from portal import urls as portal_urls
from tests.portal import factories
from tests.portal.conftest import make_user, signed_in

pytestmark = pytest.mark.django_db

OPEN = {"login", "logout"}
ADMIN_ACTIONS = {
    "member_new",
    "member_change",
    "member_renew",
    "member_cancel",
    "member_delete",
    "member_settings",
    "member_key_rotate",
    "member_keys_revoke",
    "credits_purchase",
    "plans_sync",
    "delivery_redeliver",
}
OWNER_ACTIONS = {
    "tokens",
    "token_revoke",
    "credits_refund",
    "settings",
    "webhook_new",
    "webhook_edit",
    "webhook_rotate",
    "webhook_delete",
    "ledger_reverse",
}


@pytest.fixture
def world(db, sandbox):
    factories.plan("ultra", 2500, tier="ultra")
    member = factories.members(1)[0]
    factories.gateway_key(member)
    token = factories.service_token()
    endpoint, delivery = factories.webhook_delivery()
    return {
        "uid": member.uid,
        "token_id": token.pk,
        "delivery_id": delivery.pk,
        "endpoint_id": endpoint.pk,
        "transaction_id": ledger.ledger_adjust(
            amount=100, reason="tests", actor="tests"
        ).pk,
    }


def portal_urls_for(world) -> list[tuple[str, str, object]]:
    out = []
    for pattern in portal_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        kwargs = {k: world[k] for k in pattern.pattern.converters}
        out.append(
            (pattern.name, reverse(f"portal:{pattern.name}", kwargs=kwargs), pattern)
        )
    return out


def state() -> tuple:
    return (
        AuditEvent.objects.count(),
        LedgerTransaction.objects.count(),
        Member.objects.filter(status="active").count(),
        GatewayKey.objects.filter(revoked_at=None).count(),
    )


def test_every_view_checks_a_role(world):
    for name, _, pattern in portal_urls_for(world):
        if name in OPEN:
            continue
        assert hasattr(pattern.callback, "portal_role"), name
    names = {name for name, _, _ in portal_urls_for(world)}
    assert ADMIN_ACTIONS | OWNER_ACTIONS <= names


def test_signed_out_is_sent_to_sign_in(world):
    client = Client()
    for name, url, _ in portal_urls_for(world):
        if name in OPEN:
            continue
        response = client.get(url)
        assert response.status_code == 302, name
        assert response["Location"].startswith("/login/?next="), name


def test_a_viewer_is_refused_every_post(world, viewer_client):
    before = state()
    for name, url, pattern in portal_urls_for(world):
        if name in OPEN:
            continue
        response = viewer_client.post(
            url, {"confirm_amount": "0", "plan": "pro", "buy-credits": "5"}
        )
        if pattern.callback.portal_post_role == "viewer":
            # a read-only page: POST is not a method it has
            assert response.status_code == 405, name
        else:
            assert response.status_code == 403, name
            assert b"This needs the" in response.content
    assert state() == before


def test_a_viewer_reads_every_page(world, viewer_client):
    readable = {
        name
        for name, _, pattern in portal_urls_for(world)
        if name not in OPEN and pattern.callback.portal_role == "viewer"
    }
    assert {"dashboard", "members", "member", "ledger", "credits", "audit"} <= readable
    for name, url, _ in portal_urls_for(world):
        if name in readable:
            assert viewer_client.get(url).status_code == 200, name


def test_an_admin_may_act_on_members_but_not_owner_things(world, admin_client):
    uid = world["uid"]
    # the first POST of a money action shows its preview to confirm: allowed, no change
    for name in ("member_change", "member_renew", "member_cancel", "member_delete"):
        url = reverse(f"portal:{name}", kwargs={"uid": uid})
        response = admin_client.post(url, {"plan": "ultra"})
        assert response.status_code == 200, name
        assert b'name="confirm_amount"' in response.content, name
    response = admin_client.post(
        reverse("portal:member_keys_revoke", kwargs={"uid": uid})
    )
    assert response.status_code == 302
    assert not GatewayKey.objects.filter(revoked_at=None).exists()
    response = admin_client.post(
        reverse("portal:member_settings", kwargs={"uid": uid}),
        {"auto_renew": "", "quota": "100"},
    )
    assert response.status_code == 302
    assert Member.objects.get(uid=uid).override_quota == 100
    before = state()
    for name, url, _ in portal_urls_for(world):
        if name in OWNER_ACTIONS:
            response = admin_client.post(url, {"name": "x", "refund-credits": "1"})
            assert response.status_code == 403, name
    assert state() == before


def test_an_owner_may_do_owner_things(world, owner_client):
    response = owner_client.post(
        reverse("portal:tokens"), {"name": "billing", "scopes": ["read"]}
    )
    assert response.status_code == 200
    assert b"shown only once" in response.content
    assert response["Cache-Control"] == "no-store"
    response = owner_client.post(
        reverse("portal:token_revoke", kwargs={"token_id": world["token_id"]})
    )
    assert response.status_code == 302
    response = owner_client.post(
        reverse("portal:settings"),
        {
            "auto_renew_default": "on",
            "reminder_days": "5, 2",
            "renew_lead_hours": "12",
            "low_balance_days": "10",
            "notify_emails": "ops@example.com",
        },
    )
    assert response.status_code == 302
    # a refund of credits the wallet does not hold is refused next to the field
    response = owner_client.post(
        reverse("portal:credits_refund"), {"refund-credits": "5"}
    )
    assert response.status_code == 400
    assert b"can be refunded" in response.content


def test_a_superuser_counts_as_owner_and_a_user_without_a_role_is_refused(world):
    root = signed_in(make_user("root", "superuser"))
    assert root.get(reverse("portal:tokens")).status_code == 200
    nobody = signed_in(make_user("nobody", None))
    response = nobody.get(reverse("portal:dashboard"))
    assert response.status_code == 403
    assert b"without a portal role" in response.content
