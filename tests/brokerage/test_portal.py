"""The Brokerage card on a member's page: what it shows, linking, replacing and
unlinking from the portal, who may, and that no page carries a token."""

import datetime as dt

import pytest

from brokerage import services
from brokerage.models import BrokerageLink
from members.models import AuditEvent
from orgportal import clock
from tests.brokerage.conftest import ACCOUNTS, access_token
from tests.portal.conftest import make_user, signed_in

pytestmark = pytest.mark.django_db


def page(uid: str) -> str:
    return f"/members/{uid}/"


def link_url(uid: str) -> str:
    return f"/members/{uid}/brokerage/link/"


def unlink_url(uid: str) -> str:
    return f"/members/{uid}/brokerage/unlink/"


@pytest.fixture
def tokens():
    return {"access_token": access_token(), "refresh_token": "rt_portal-secret-42"}


@pytest.fixture
def linked(member, tokens):
    link, _ = services.brokerage_link(
        uid=member.uid, account_ids=list(ACCOUNTS), actor="tests", **tokens
    )
    return link


def form(tokens, accounts="ACC-7, ACC-8\nACC-9") -> dict:
    return {**tokens, "account_ids": accounts}


@pytest.fixture
def owner_client(db):
    return signed_in(make_user("olivia", "owner"))


@pytest.fixture
def admin_client(db):
    return signed_in(make_user("adam", "admin"))


@pytest.fixture
def viewer_client(db):
    return signed_in(make_user("vera", "viewer"))


# --- the card ---------------------------------------------------------------------------


def test_the_card_shows_health_accounts_and_times(
    viewer_client, member, linked, tokens
):
    # when
    r = viewer_client.get(page(member.uid))
    html = r.content.decode()
    # then
    assert r.status_code == 200
    assert 'id="brokerage"' in html
    assert 'data-testid="brokerage-status"' in html and ">valid</span>" in html
    for account in ACCOUNTS:
        assert account in html
    assert "Expires at" in html and "Refreshed at" in html
    # a viewer may look, not change
    assert link_url(member.uid) not in html
    assert unlink_url(member.uid) not in html
    for secret in tokens.values():
        assert secret not in html


@pytest.mark.parametrize(
    ("left", "word"),
    [
        (dt.timedelta(minutes=5), "expiring"),
        (-dt.timedelta(minutes=5), "expired"),
    ],
)
def test_the_card_uses_the_apis_words(viewer_client, member, frozen, left, word):
    # given a token expiring in an hour
    services.brokerage_link(
        uid=member.uid,
        access_token=access_token(expires_in=3600),
        refresh_token="rt",
        account_ids=["A"],
        actor="tests",
    )
    # when the clock nears or passes the expiry
    frozen.advance(dt.timedelta(hours=1) - left)
    html = viewer_client.get(page(member.uid)).content.decode()
    # then
    assert f">{word}</span>" in html


def test_a_failed_link_shows_why(viewer_client, member, linked):
    # given
    now = clock.now()
    BrokerageLink.objects.filter(pk=linked.pk).update(
        failed_at=now, failure="Aries token refresh: invalid_grant", failure_at=now
    )
    # when
    html = viewer_client.get(page(member.uid)).content.decode()
    # then
    assert ">failed</span>" in html
    assert "invalid_grant" in html and "link again" in html


def test_an_unlinked_member_offers_admins_the_form(admin_client, member):
    html = admin_client.get(page(member.uid)).content.decode()
    assert "Not linked to a brokerage user" in html
    assert f'action="{link_url(member.uid)}"' in html
    assert unlink_url(member.uid) not in html


def test_a_deleted_members_page_has_no_card(owner_client, deleted_member):
    html = owner_client.get(page(deleted_member.uid)).content.decode()
    assert 'id="brokerage"' not in html


# --- linking ----------------------------------------------------------------------------


def test_link_from_the_portal(owner_client, member, tokens, changed):
    # when
    r = owner_client.post(link_url(member.uid), form(tokens), follow=True)
    # then
    html = r.content.decode()
    assert r.status_code == 200
    link = BrokerageLink.objects.get(member=member)
    assert link.account_ids == ["ACC-7", "ACC-8", "ACC-9"]
    assert "Linked" in html and "ACC-9" in html
    assert AuditEvent.objects.get(action="brokerage.link").actor == "staff:olivia"
    for secret in tokens.values():
        assert secret not in html


def test_replace_from_the_portal(admin_client, member, linked):
    # given the link form for a linked member
    r = admin_client.get(link_url(member.uid))
    assert r.status_code == 200
    assert "Replace the brokerage link" in r.content.decode()
    new = {"access_token": access_token(expires_in=7200), "refresh_token": "rt_new"}
    # when
    r = admin_client.post(link_url(member.uid), form(new, "ACC-1"))
    # then
    assert r.status_code == 302
    assert BrokerageLink.objects.get(member=member).account_ids == ["ACC-1"]
    assert AuditEvent.objects.filter(action="brokerage.replace").count() == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"access_token": "not-a-jwt"}, "access_token"),
        ({"refresh_token": ""}, "refresh_token"),
        ({"account_ids": "A, B, A"}, "account_ids"),
        ({"account_ids": "  "}, "account_ids"),
    ],
)
def test_a_bad_form_is_shown_again_without_its_tokens(
    owner_client, member, tokens, changes, field
):
    # when
    r = owner_client.post(link_url(member.uid), {**form(tokens), **changes})
    # then
    html = r.content.decode()
    assert r.status_code == 400
    assert f'id="id_{field}_error"' in html
    assert not BrokerageLink.objects.exists()
    for secret in tokens.values():
        assert secret not in html


# --- unlinking --------------------------------------------------------------------------


def test_unlink_asks_first_then_unlinks(owner_client, member, linked, changed):
    # when: the confirmation
    r = owner_client.get(unlink_url(member.uid))
    # then nothing changed yet
    assert r.status_code == 200
    assert "Unlink" in r.content.decode()
    assert BrokerageLink.objects.exists()
    # when: confirmed
    r = owner_client.post(unlink_url(member.uid), follow=True)
    # then
    assert r.status_code == 200
    assert not BrokerageLink.objects.exists()
    assert "Unlinked" in r.content.decode()
    assert AuditEvent.objects.filter(action="brokerage.unlink").count() == 1


def test_unlink_without_a_link_says_so(owner_client, member):
    r = owner_client.post(unlink_url(member.uid), follow=True)
    assert r.status_code == 200
    assert "has no brokerage link" in r.content.decode()


# --- permissions --------------------------------------------------------------------------


def test_viewers_cannot_link_or_unlink(viewer_client, member, linked, tokens):
    before = list(BrokerageLink.objects.values())
    for response in (
        viewer_client.get(link_url(member.uid)),
        viewer_client.post(link_url(member.uid), form(tokens, "X")),
        viewer_client.get(unlink_url(member.uid)),
        viewer_client.post(unlink_url(member.uid)),
    ):
        assert response.status_code == 403
    assert list(BrokerageLink.objects.values()) == before
    assert not AuditEvent.objects.filter(action="brokerage.unlink").exists()


def test_signed_out_users_are_sent_to_sign_in(client, member, tokens):
    r = client.post(link_url(member.uid), form(tokens))
    assert r.status_code == 302 and r["Location"].startswith("/login/")
    assert not BrokerageLink.objects.exists()


def test_unknown_and_deleted_members(owner_client, deleted_member, tokens):
    for uid in ("nobody", deleted_member.uid):
        assert owner_client.get(link_url(uid)).status_code == 404
        assert owner_client.post(link_url(uid), form(tokens)).status_code == 404
        assert owner_client.post(unlink_url(uid)).status_code == 404
    assert not BrokerageLink.objects.exists()
