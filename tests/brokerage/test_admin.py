"""Django admin shows brokerage links read-only and without their tokens."""

import pytest

from brokerage import services
from tests.brokerage.conftest import ACCOUNTS, access_token
from tests.portal.conftest import make_user, signed_in

pytestmark = pytest.mark.django_db


def test_admin_lists_and_shows_a_link_without_tokens(member):
    # given
    tokens = {"access_token": access_token(), "refresh_token": "rt_admin-secret-7"}
    link, _ = services.brokerage_link(
        uid=member.uid, account_ids=list(ACCOUNTS), actor="tests", **tokens
    )
    client = signed_in(make_user("root", "superuser"))
    # when
    listing = client.get("/admin/brokerage/brokeragelink/")
    detail = client.get(f"/admin/brokerage/brokeragelink/{link.pk}/change/")
    add = client.get("/admin/brokerage/brokeragelink/add/")
    # then
    assert listing.status_code == detail.status_code == 200
    assert "ACC-1, ACC-2" in listing.content.decode()
    assert "valid" in listing.content.decode()
    for response in (listing, detail):
        html = response.content.decode()
        for secret in tokens.values():
            assert secret not in html
        assert link.access_token_encrypted not in html
        assert link.refresh_token_encrypted not in html
    assert add.status_code == 403
    assert b'name="_save"' not in detail.content
