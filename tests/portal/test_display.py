"""One way to write numbers on every page, words for codes, and a fresh deployment
that offers plans without a manual sync."""

import re

import pytest

from billing.services import ledger
from members.models import Member, Plan
from members.services import operations
from portal import display
from portal.selectors.series import balance_series
from tests.portal.conftest import make_user, signed_in

# An amount as the portal writes it: grouped thousands, two places, one sign rule.
AMOUNT = re.compile(r"(?<![\d,.])[+−]?\d{1,3}(?:,\d{3})*\.\d\d(?![\d])")
# Digits with two decimals not written that way (e.g. "2905.00", "-35.00").
UNGROUPED = re.compile(r"(?<![\d,.])-?\d{4,}\.\d\d|(?<![\d,.\w])-\d+\.\d\d")


@pytest.mark.parametrize(
    ("hundredths", "text", "signed"),
    [
        (0, "0.00", "0.00"),
        (5, "0.05", "+0.05"),
        (290_500, "2,905.00", "+2,905.00"),
        (-3_500, "−35.00", "−35.00"),
        (12_345_678_900, "123,456,789.00", "+123,456,789.00"),
    ],
)
def test_amounts_are_grouped_with_one_sign_rule(hundredths, text, signed):
    assert display.amount(hundredths) == text
    assert display.signed_amount(hundredths) == signed
    assert AMOUNT.fullmatch(text) and not UNGROUPED.search(text)


def test_counts_and_codes_read_as_words_and_numbers():
    assert display.count(120_000) == "120,000"
    assert display.words("member_create") == "Member create"
    assert display.words("active") == "Active"
    assert display.decimal(1234.5) == "1,234.5"


def test_member_page_writes_quotas_amounts_and_codes_for_people(
    admin_client, funded, sandbox
):
    ledger.credits_purchase(credits=2_000, actor="tests")
    operations.member_create(uid="zoe", plan="mega", actor="tests")
    page = admin_client.get("/members/zoe/").content.decode()
    text = re.sub(r"<[^>]+>", " ", page)
    assert not UNGROUPED.search(text), UNGROUPED.search(text)
    assert "member_create" not in text and "Member create" in text
    # a charge reads the same as in the ledger: out of the wallet
    assert "−50.00" in text and "+50.00" not in text
    assert "Active" in text


def test_a_fresh_deployment_syncs_plans_for_the_new_member_form(admin_client, sandbox):
    assert not Plan.objects.exists()
    page = admin_client.get("/members/new/").content.decode()
    assert Plan.objects.filter(available=True).exists()
    assert 'value="pro"' in page and "Sync plans" not in page


def test_without_the_upstream_the_form_says_why_and_offers_the_sync(
    admin_client, settings
):
    settings.UPSTREAM_ORG_URL = "http://127.0.0.1:9"
    response = admin_client.get("/members/new/")
    assert response.status_code == 503
    body = response.content.decode()
    assert "could not be read" in body and "Sync plans from upstream" in body
    assert not Plan.objects.exists()


def test_the_sync_returns_to_the_new_member_form(admin_client, sandbox):
    response = admin_client.post("/plans/sync/", {"next": "/members/new/"})
    assert response["Location"] == "/members/new/"
    elsewhere = admin_client.post("/plans/sync/", {"next": "https://example.com/"})
    assert elsewhere["Location"] == "/plans/"


def test_a_young_wallet_is_charted_transaction_by_transaction(funded):
    operations.member_create(uid="zoe", plan="pro", actor="tests")
    per, points = balance_series(days=30, balance=98_500, flows={})
    assert per == "transaction"
    assert [v for _, v in points] == [0, 100_000, 98_500]


def test_the_dashboard_counts_members_by_status(funded):
    operations.member_create(uid="zoe", plan="pro", actor="tests")
    client = signed_in(make_user("vera", "viewer"))
    page = client.get("/").content.decode()
    assert "not deleted" not in page
    assert "1 active · 0 cancelled · 0 expired" in page
    assert Member.objects.count() == 1
