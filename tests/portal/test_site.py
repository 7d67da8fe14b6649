"""Site-wide behaviour around the portal: pages for people, JSON for programs, one
sign-in (with its lockout) for the portal and Django admin."""

import datetime as dt

import pytest

from members.models import LoginAttempt
from members.services.signin import login_attempts_clean
from orgportal import clock

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


def test_old_sign_in_attempts_are_forgotten(frozen):
    LoginAttempt.objects.create(username="a", ip="127.0.0.1", ok=False, at=clock.now())
    frozen.advance(dt.timedelta(days=31))
    LoginAttempt.objects.create(username="a", ip="127.0.0.1", ok=False, at=clock.now())
    assert login_attempts_clean() == 1
    assert LoginAttempt.objects.count() == 1
