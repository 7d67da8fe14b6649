"""Every page in Chromium at a laptop's and a phone's width: nothing scrolls sideways,
amounts are written one way, chart labels neither overlap nor get cut off and are the
same size in every card. A screenshot of each page at each width is kept under
.run/screenshots/ (CI keeps them as artifacts)."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from billing.models import LedgerTransaction
from billing.services import ledger
from members.models import Member, Plan
from members.services import operations
from tests.portal import factories
from tests.portal.conftest import make_user, sign_in_browser
from tests.portal.test_display import UNGROUPED

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = Path(__file__).resolve().parents[2] / ".run" / "screenshots"
WIDTHS = (1366, 375)
PAGES = {
    "dashboard": "/",
    "members": "/members/",
    "member": "/members/alice/",
    "member-new": "/members/new/",
    "member-change": "/members/alice/change/",
    "ledger": "/ledger/",
    "credits": "/credits/",
    "plans": "/plans/",
    "notifications": "/notifications/",
    "audit": "/audit/",
    "tokens": "/tokens/",
    "settings": "/settings/",
}
# Pages whose every amount must follow the rule (checked over the rendered text).
MONEY_PAGES = ("dashboard", "members", "member", "ledger", "credits")

# Stored codes that must read as words ("Member create", "Active").
RAW_CODE = re.compile(
    r"\bmember_(?:create|change|renew|cancel|delete)\b|\b(?:active|cancelled|expired)\t"
)

# Each visible tick label of each chart: its box, font size and the chart's box.
TICKS = """() => [...document.querySelectorAll('.chart')].map(chart => ({
    chart: chart.getBoundingClientRect().toJSON(),
    ticks: [...chart.querySelectorAll('.tick')]
        .filter(t => getComputedStyle(t).display !== 'none')
        .map(t => ({text: t.textContent, box: t.getBoundingClientRect().toJSON(),
                    size: getComputedStyle(t).fontSize})),
}))"""


def _overlap(a: dict, b: dict) -> bool:
    return (
        a["left"] < b["right"]
        and b["left"] < a["right"]
        and a["top"] < b["bottom"]
        and b["top"] < a["bottom"]
    )


@pytest.fixture
def organisation(live_portal, funded):
    """A few members with history: charges, a plan change, usage, a big purchase."""
    make_user("olivia", "owner")
    ledger.credits_purchase(credits=2_000, actor="tests")
    for uid, plan in (("alice", "pro"), ("bob", "ultra"), ("erin", "mega")):
        operations.member_create(uid=uid, plan=plan, full_name=uid.title(), actor="t")
    operations.member_change_plan(uid="bob", plan="mega", actor="tests")
    for member in Member.objects.all():
        factories.usage(member, days=30)
    return live_portal


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_and_writes_numbers_one_way(browser, organisation, width):
    context = browser.new_context(
        base_url=organisation.url, viewport={"width": width, "height": 900}
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    missing = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        page.goto("/login/")
        page.screenshot(path=str(SHOTS / f"login-{width}.png"), full_page=True)
        sign_in_browser(page, "olivia")
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        for name, path in PAGES.items():
            page.goto(path)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
            # nothing scrolls sideways, on a phone either
            scroll = page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= width, (name, scroll)
            if name in MONEY_PAGES:
                text = page.inner_text("main")
                assert not UNGROUPED.search(text), (name, UNGROUPED.search(text))
                assert not RAW_CODE.search(text), (name, RAW_CODE.search(text))
            _check_charts(page, name)
        # the favicon is served: no page asked for something missing
        assert missing == []
    finally:
        context.close()


def _check_charts(page, name: str) -> None:
    sizes = set()
    for chart in page.evaluate(TICKS):
        ticks = chart["ticks"]
        assert len(ticks) >= 2, (name, chart)
        for i, tick in enumerate(ticks):
            sizes.add(tick["size"])
            box = tick["box"]
            # inside the chart: not cut off on the left or the right
            assert box["left"] >= chart["chart"]["left"] - 1, (name, tick)
            assert box["right"] <= chart["chart"]["right"] + 1, (name, tick)
            for other in ticks[i + 1 :]:
                assert not _overlap(box, other["box"]), (name, tick, other)
    assert len(sizes) <= 1, (name, sizes)


def test_phone_tables_show_term_end_and_balance_without_scrolling(
    browser, organisation
):
    context = browser.new_context(
        base_url=organisation.url, viewport={"width": 375, "height": 740}
    )
    page = context.new_page()
    try:
        sign_in_browser(page, "olivia")
        for path, column in (
            ("/members/", "Term ends"),
            ("/ledger/", "Balance"),
            ("/", "Total"),  # the dashboard's members by plan and status
        ):
            page.goto(path)
            cell = page.locator(f'td[data-label="{column}"]').first
            expect(cell).to_be_visible()
            box = cell.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 375, (path, box)
    finally:
        context.close()


def test_a_fresh_database_buys_credits_and_creates_a_member(page, live_portal):
    # given a new deployment: migrated, no demo, no plan read yet, an empty wallet
    assert not Plan.objects.exists() and not LedgerTransaction.objects.exists()
    make_user("olivia", "owner")
    sign_in_browser(page, "olivia")
    page.goto("/credits/")
    page.get_by_label("Credits", exact=True).first.fill("100")
    page.get_by_role("button", name="Review the purchase").click()
    expect(page.get_by_test_id("wallet-after")).to_have_text("0.00 → 100.00 credits")
    page.get_by_role("button", name="Buy and pay 100.00 USD").click()
    # when the new member form is opened, it reads the plans on its own
    page.goto("/members/new/")
    page.get_by_label("uid").fill("first")
    page.get_by_label("Plan").select_option("pro")
    expect(page.get_by_test_id("preview-amount")).to_have_text("15.00 credits")
    page.get_by_role("button", name="Review the charge").click()
    page.get_by_role("button", name="Create and charge 15.00 credits").click()
    # then the member exists and was charged
    expect(page.get_by_role("heading", name="Member first created")).to_be_visible()
    assert Member.objects.get(uid="first").plan.name == "pro"
