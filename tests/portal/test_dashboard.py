"""The dashboard's figures against the REST API's."""

import datetime as dt

import pytest

from members.models import Member
from orgportal import clock
from tests.portal import factories

pytestmark = pytest.mark.django_db


def test_low_balance_alert_agrees_with_the_api_past_500_renewals(
    viewer_client, api, funded
):
    # given: 600 auto-renewals of 1.80 due in the next 7 days, 1,080.00 against the
    # 1,000.00 bought; the first 500 alone (900.00) would be covered
    cheap = factories.plan("cheap", 180, tier="pro")
    factories.members(600, on=cheap)
    Member.objects.update(auto_renew=True, term_end=clock.now() + dt.timedelta(days=2))

    # when
    forecast = api.get("/api/organization/balance").json()["forecast"]
    body = viewer_client.get("/").content.decode()

    # then
    assert forecast == {
        "window_days": 7,
        "renewals": 600,
        "due": "1080.00",
        "shortfall": "80.00",
        "covered": False,
    }
    assert (
        "Low balance: renewals due in the next 7 days cost 1,080.00 credits and the "
        "wallet has 1,000.00 available." in body
    )
    assert "Total (600 renewals)" in body
