"""The portal's service token page: scopes chosen at creation, shown once, listed."""

import re

import pytest

from members.models import ServiceToken
from members.services.keys import service_token_create

pytestmark = pytest.mark.django_db


def test_a_token_is_created_with_the_scopes_ticked(owner_client):
    response = owner_client.post(
        "/tokens/", {"name": "billing", "scopes": ["read", "credits"]}
    )
    assert response.status_code == 200
    assert b"shown only once" in response.content
    record = ServiceToken.objects.get(name="billing")
    assert record.scopes == ["read", "credits"]
    assert b'<span class="badge">credits</span>' in response.content


def test_a_token_needs_a_scope(owner_client):
    response = owner_client.post("/tokens/", {"name": "billing"})
    assert response.status_code == 400
    assert b"Choose at least one scope." in response.content
    assert not ServiceToken.objects.exists()


def test_an_unknown_scope_is_refused(owner_client):
    response = owner_client.post("/tokens/", {"name": "billing", "scopes": ["root"]})
    assert response.status_code == 400
    assert not ServiceToken.objects.exists()


def test_the_form_offers_every_scope_with_admin_unticked(owner_client):
    html = owner_client.get("/tokens/").content.decode()
    boxes = {
        re.search(r'value="(\w+)"', tag).group(1): "checked" in tag
        for tag in re.findall(r'<input type="checkbox" name="scopes"[^>]*>', html)
    }
    assert boxes == {"read": True, "members": True, "credits": True, "admin": False}


def test_the_list_shows_each_tokens_scopes(owner_client):
    service_token_create(name="reader", scopes=["read"], actor="tests")
    service_token_create(name="root", scopes=["admin"], actor="tests")
    html = owner_client.get("/tokens/").content.decode()
    reader_row = html[html.index(">reader<") :].split("</tr>")[0]
    root_row = html[html.index(">root<") :].split("</tr>")[0]
    assert ">read<" in reader_row and ">admin<" not in reader_row
    assert ">admin<" in root_row
