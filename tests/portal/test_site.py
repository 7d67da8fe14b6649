"""Site-wide behaviour around the portal: pages for people, JSON for programs, one
sign-in (with its lockout) for the portal and Django admin."""

import pytest
from django.contrib.auth import authenticate
from django.test import Client, RequestFactory

from tests.portal.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def test_a_browser_gets_a_page_for_an_unknown_url_and_a_program_gets_json(client):
    page = client.get("/no-such-page/", headers={"Accept": "text/html"})
    api = client.get("/api/organization/nope", headers={"Accept": "text/html"})
    bare = client.get("/no-such-page/")
    assert page.status_code == api.status_code == bare.status_code == 404
    assert b"Page not found" in page.content
    assert page["Content-Type"].startswith("text/html")
    assert api.json()["code"] == "NOT_FOUND"
    assert bare.json()["code"] == "NOT_FOUND"


def test_django_admin_signs_in_through_the_portal_sign_in(client):
    response = client.get("/admin/login/?next=/admin/members/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/admin/"


def _sign_in(username, password=PASSWORD, *, peer, forwarded=None):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return Client().post(
        "/login/",
        {"username": username, "password": password},
        REMOTE_ADDR=peer,
        headers=headers,
    )


def test_a_locked_account_cannot_sign_in_anywhere_django_admin_included(db):
    # given: a locked username
    make_user("olivia", "superuser")
    for _ in range(5):
        _sign_in("olivia", "nope", peer="10.0.0.1")
    # when: Django admin's sign-in form (or any code) authenticates with the password
    request = RequestFactory().post("/admin/login/", REMOTE_ADDR="10.0.0.2")
    user = authenticate(request, username="olivia", password=PASSWORD)
    # then: refused, unchecked
    assert user is None
    assert request.axes_locked_out


def test_behind_a_trusted_proxy_the_forwarded_client_is_locked(db, settings):
    settings.TRUSTED_PROXIES = ["10.1.0.0/16"]
    make_user("olivia", "owner")
    # given: five failures from one client, all through the proxy at 10.1.0.5
    for i in range(5):
        _sign_in(f"guess{i}", "nope", peer="10.1.0.5", forwarded="203.0.113.7")
    # then: that client is locked, even behind a second trusted proxy hop ...
    locked = _sign_in("olivia", peer="10.1.0.5", forwarded="203.0.113.7, 10.1.0.9")
    assert locked.status_code == 429
    # ... and everyone else behind the same proxy still signs in
    assert (
        _sign_in("olivia", peer="10.1.0.5", forwarded="198.51.100.2").status_code == 302
    )


def test_a_forwarded_header_from_an_untrusted_peer_is_ignored(db, settings):
    settings.TRUSTED_PROXIES = ["10.1.0.0/16"]
    make_user("olivia", "owner")
    # given: five failures from 192.0.2.50, each claiming to forward another client
    for i in range(5):
        _sign_in(
            f"guess{i}", "nope", peer="192.0.2.50", forwarded=f"198.51.100.{i + 10}"
        )
    # then: the peer itself is locked, whatever it claims ...
    claimed = _sign_in("olivia", peer="192.0.2.50", forwarded="198.51.100.99")
    assert claimed.status_code == 429
    # ... and the addresses it named are not
    assert (
        _sign_in("olivia", peer="10.1.0.5", forwarded="198.51.100.10").status_code
        == 302
    )
