"""The portal in a real browser: Playwright driving Debian's Chromium against the web
process (uvicorn in a thread) and the sandbox upstream."""

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from billing.models import LedgerTransaction
from members.models import Member
from members.services import operations
from tests.portal.conftest import make_user, sign_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def owner_login(live_portal):
    return make_user("olivia", "owner")


def create_member_through_the_portal(page, uid: str, plan: str = "pro") -> str:
    page.goto("/members/new/")
    page.get_by_label("uid").fill(uid)
    page.get_by_label("Full name").fill("Zoe Quinn")
    page.get_by_label("Plan").select_option(plan)
    # the live preview (htmx) shows the plan's full price before anything is sent
    expect(page.get_by_test_id("preview-amount")).to_have_text("15.00 credits")
    page.get_by_role("button", name="Review the charge").click()
    expect(page.get_by_role("heading", name=f"Create {uid}")).to_be_visible()
    expect(page.get_by_test_id("preview-amount")).to_have_text("15.00 credits")
    page.get_by_role("button", name="Create and charge 15.00 credits").click()
    expect(page.get_by_role("heading", name=f"Member {uid} created")).to_be_visible()
    return page.get_by_test_id("secret").input_value()


def test_sign_in_then_out(page, owner_login, funded):
    # given a signed-out browser
    page.goto("/members/")
    # then it is sent to the sign-in page, and back after signing in
    expect(page).to_have_url(re.compile(r"/login/\?next=/members/"))
    page.get_by_label("Username").fill("olivia")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")
    sign_in_browser(page, "olivia")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_test_id("balance")).to_have_text("1,000.00")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login/$"))


def test_create_a_member_confirming_its_preview(page, owner_login, funded):
    sign_in_browser(page, "olivia")
    key = create_member_through_the_portal(page, "zoe")
    # the new gateway key is shown once, in full
    assert key.count(".") == 2
    member = Member.objects.get(uid="zoe")
    assert member.plan.name == "pro" and member.full_name == "Zoe Quinn"
    page.get_by_role("link", name="Go to zoe").click()
    expect(page.get_by_role("heading", name=re.compile("zoe"))).to_be_visible()
    expect(page.get_by_role("cell", name="Created zoe on pro")).to_be_visible()


def test_upgrade_and_see_the_charge_in_the_ledger(page, owner_login, funded):
    sign_in_browser(page, "olivia")
    create_member_through_the_portal(page, "zoe")
    page.goto("/members/zoe/")
    page.get_by_role("link", name="Change plan").click()
    page.get_by_label("New plan").select_option("ultra")
    # moments after paying 15.00 for pro, ultra (25.00) costs the difference
    expect(page.get_by_test_id("preview-amount")).to_have_text("10.00 credits")
    page.get_by_role("button", name="Review the change").click()
    expect(page.get_by_test_id("preview-amount")).to_have_text("10.00 credits")
    page.get_by_role("button", name="Change plan").click()
    expect(page.get_by_role("status")).to_contain_text(
        "zoe is now on ultra. Charged 10.00 credits."
    )
    page.get_by_role("link", name="Ledger", exact=True).click()
    row = page.get_by_role("row").filter(has_text="Member change")
    expect(row).to_contain_text("zoe: pro → ultra, prorated")
    expect(row).to_contain_text("−10.00")
    expect(row).to_contain_text("975.00")  # 1000 − 15 − 10, the balance after it


def test_cancel_credits_the_unused_time(page, owner_login, funded):
    operations.member_create(uid="zoe", plan="pro", actor="tests")
    sign_in_browser(page, "olivia")
    page.goto("/members/zoe/")
    page.get_by_role("link", name="Cancel", exact=True).click()
    expect(page.get_by_role("heading", name="Cancel zoe")).to_be_visible()
    expect(page.get_by_test_id("preview-amount")).to_have_text("15.00 credits")
    page.get_by_role("button", name="Cancel the member").click()
    expect(page.get_by_role("status")).to_contain_text("Cancelled zoe.")
    expect(page.get_by_role("heading", name=re.compile("zoe"))).to_contain_text(
        "Cancelled"
    )
    assert Member.objects.get(uid="zoe").status == "cancelled"


def test_buy_credits_with_the_live_tier_quote(page, owner_login, funded):
    sign_in_browser(page, "olivia")
    page.goto("/credits/")
    page.get_by_label("Credits", exact=True).first.fill("501")
    expect(page.get_by_test_id("unit-price")).to_contain_text("0.90 USD")
    expect(page.get_by_test_id("quote-total")).to_have_text("450.90 USD")
    page.get_by_label("Credits", exact=True).first.fill("2501")
    expect(page.get_by_test_id("quote-total")).to_have_text("1,250.50 USD")
    page.get_by_role("button", name="Review the purchase").click()
    # nothing is bought before the review is confirmed
    expect(page.get_by_role("heading", name="Buy 2,501 credits")).to_be_visible()
    expect(page.get_by_test_id("review-total")).to_have_text("1,250.50 USD")
    expect(page.get_by_test_id("wallet-after")).to_have_text(
        "1,000.00 → 3,501.00 credits"
    )
    assert LedgerTransaction.objects.count() == 1
    page.get_by_role("button", name="Buy and pay 1,250.50 USD").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Bought 2,501 credits at 0.50 USD each: 1,250.50 USD."
    )
    expect(page.get_by_test_id("balance")).to_have_text("3,501.00")


def test_export_the_ledger_as_csv(page, owner_login, funded):
    operations.member_create(uid="zoe", plan="pro", actor="tests")
    sign_in_browser(page, "olivia")
    page.goto("/ledger/")
    with page.expect_download() as info:
        page.get_by_test_id("export").click()
    download = info.value
    assert re.fullmatch(r"ledger-\d{8}-\d{6}\.csv", download.suggested_filename)
    rows = list(csv.DictReader(io.StringIO(open(download.path()).read())))
    assert [r["kind"] for r in rows] == ["member_create", "purchase"]
    assert [r["wallet_balance_after"] for r in rows] == ["985.00", "1000.00"]
    assert rows[0]["member"] == "zoe" and rows[0]["wallet_amount"] == "-15.00"


def test_a_viewer_is_refused_an_action(page, live_portal, funded):
    make_user("vera", "viewer")
    operations.member_create(uid="zoe", plan="pro", actor="tests")
    sign_in_browser(page, "vera")
    page.goto("/members/zoe/")
    # no action is offered to a viewer ...
    expect(page.get_by_role("link", name="Cancel", exact=True)).to_have_count(0)
    # ... and going to one directly is refused
    response = page.goto("/members/zoe/cancel/")
    assert response.status == 403
    expect(page.get_by_role("main")).to_contain_text("This needs the admin role")
    assert Member.objects.get(uid="zoe").status == "active"
    assert LedgerTransaction.objects.count() == 2


def test_keyboard_and_labels(page, owner_login, funded):
    operations.member_create(uid="zoe", plan="pro", actor="tests")
    sign_in_browser(page, "olivia")
    # the first Tab reaches the skip link, which moves focus past the navigation
    page.wait_for_load_state("networkidle")
    page.keyboard.press("Tab")
    page.wait_for_function("document.activeElement.textContent === 'Skip to content'")
    page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement.id === 'main'")
    unlabelled = """() => [...document.querySelectorAll('input, select, textarea')]
        .filter(el => el.type !== 'hidden' && !(el.labels && el.labels.length)
                && !el.getAttribute('aria-label'))
        .map(el => el.name || el.id)"""
    for path in (
        "/members/",
        "/members/new/",
        "/members/zoe/change/",
        "/members/zoe/settings/",
        "/ledger/",
        "/credits/",
        "/settings/",
        "/tokens/",
        "/webhooks/new/",
        "/audit/",
    ):
        page.goto(path)
        assert page.evaluate(unlabelled) == [], path
    # a whole action by keyboard: choose a plan and review the change
    page.goto("/members/zoe/change/")
    page.get_by_label("New plan").focus()
    page.keyboard.press("ArrowDown")
    expect(page.get_by_test_id("preview-amount")).to_be_visible()
    page.get_by_role("button", name="Review the change").focus()
    page.keyboard.press("Enter")
    expect(
        page.get_by_role("heading", name=re.compile("Change zoe: pro →"))
    ).to_be_visible()
