"""Portal views over the real services and the sandbox upstream."""

import csv
import datetime as dt
import io

import pytest
from django.core.cache import cache
from django.test import Client

from billing.models import CashRefund, LedgerEntry, LedgerTransaction
from billing.services import ledger
from members.models import AuditEvent, Member, OrgSettings
from members.services import operations
from portal.selectors import balances
from portal.selectors import ledger as ledger_reads
from tests.portal.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def login(client: Client, username: str, password: str = PASSWORD, ip="10.0.0.1"):
    return client.post(
        "/login/", {"username": username, "password": password}, REMOTE_ADDR=ip
    )


# --- sign-in and lockout -----------------------------------------------------------


def test_sign_in_sends_to_next_and_refuses_a_foreign_next(db):
    make_user("olivia", "owner")
    client = Client()
    response = client.post(
        "/login/?next=/ledger/", {"username": "olivia", "password": PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == "/ledger/"
    client = Client()
    response = client.post(
        "/login/?next=https://evil.example.com/",
        {"username": "olivia", "password": PASSWORD},
    )
    assert response["Location"] == "/"


def test_five_failures_lock_the_username_for_fifteen_minutes(db, lockout_clock):
    frozen = lockout_clock
    make_user("olivia", "owner")
    client = Client()
    for _ in range(4):
        response = login(client, "olivia", "nope")
        assert b"Wrong username or password" in response.content
    # the fifth failure locks, and the sign-in page says so
    response = login(client, "olivia", "nope")
    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.content
    # locked: even the right password is refused, with a clear message
    response = login(client, "olivia")
    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.content
    assert b"15 minutes" in response.content
    assert b'name="username"' in response.content  # the sign-in page, not a bare 403
    assert "_auth_user_id" not in client.session
    # from another address too: the username itself is locked
    assert login(Client(), "OLIVIA", ip="10.9.9.9").status_code == 429
    frozen.advance(dt.timedelta(minutes=14))
    assert login(client, "olivia").status_code == 429
    frozen.advance(dt.timedelta(minutes=1, seconds=1))
    response = login(client, "olivia")
    assert response.status_code == 302 and response["Location"] == "/"


def test_failures_from_one_address_lock_the_address(db, lockout_clock):
    make_user("olivia", "owner")
    for i in range(5):
        login(Client(), f"guess{i}", "nope", ip="10.6.6.6")
    assert login(Client(), "olivia", ip="10.6.6.6").status_code == 429
    assert login(Client(), "olivia", ip="10.7.7.7").status_code == 302


def test_failures_spread_over_more_than_the_window_do_not_lock(db, lockout_clock):
    frozen = lockout_clock
    make_user("olivia", "owner")
    for _ in range(4):
        login(Client(), "olivia", "nope")
    frozen.advance(dt.timedelta(minutes=16))
    login(Client(), "olivia", "nope")
    assert login(Client(), "olivia").status_code == 302


def test_a_success_clears_the_failures_before_it(db, lockout_clock):
    make_user("olivia", "owner")
    for _ in range(4):
        login(Client(), "olivia", "nope")
    assert login(Client(), "olivia").status_code == 302
    for _ in range(4):
        login(Client(), "olivia", "nope")
    assert login(Client(), "olivia").status_code == 302


def test_session_cookie_is_http_only_and_logout_needs_post(db):
    make_user("olivia", "owner")
    client = Client()
    response = login(client, "olivia")
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_csrf_is_enforced_on_portal_posts(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post("/tokens/", {"name": "x"}).status_code == 403


# --- member actions --------------------------------------------------------------------


def test_create_shows_the_charge_then_creates_on_confirm(admin_client, funded):
    form = {"uid": "zoe", "full_name": "Zoe", "plan": "pro", "auto_renew": "no"}
    response = admin_client.post("/members/new/", form)
    assert response.status_code == 200
    assert b"Create and charge 15.00 credits" in response.content
    assert not Member.objects.filter(uid="zoe").exists()
    response = admin_client.post("/members/new/", {**form, "confirm_amount": "1500"})
    assert response.status_code == 200
    assert b"shown only once" in response.content
    member = Member.objects.get(uid="zoe")
    assert member.auto_renew is False
    assert AuditEvent.objects.filter(
        actor="staff:adam", action="member.create"
    ).exists()


def test_a_confirmed_amount_that_no_longer_holds_is_asked_again(admin_client, funded):
    form = {"uid": "zoe", "plan": "pro", "confirm_amount": "1400"}
    response = admin_client.post("/members/new/", form)
    assert b"The amount changed since you looked" in response.content
    assert not Member.objects.filter(uid="zoe").exists()


def test_create_errors_are_shown_next_to_the_field(admin_client, funded):
    operations.member_create(uid="zoe", plan="pro", actor="tests")
    response = admin_client.post(
        "/members/new/", {"uid": "zoe", "plan": "pro", "confirm_amount": "1500"}
    )
    content = response.content.decode()
    assert 'id="id_uid_error"' in content and "already exists" in content
    response = admin_client.post("/members/new/", {"uid": "a/b", "plan": ""})
    content = response.content.decode()
    assert 'id="id_uid_error"' in content and 'id="id_plan_error"' in content


def test_change_plan_charges_what_the_preview_showed(admin_client, funded, frozen):
    operations.member_create(uid="zoe", plan="pro", actor="tests")
    frozen.advance(dt.timedelta(days=15))  # half the term: P→U costs 5.00
    response = admin_client.get("/members/zoe/change/preview/?plan=ultra")
    assert b"5.00 credits" in response.content
    # the review shows the breakdown: ultra for the 15 paid days left (12.50), less
    # the unused half of pro (7.50), is the net charge
    review = admin_client.post("/members/zoe/change/", {"plan": "ultra"})
    assert review.context["breakdown"] == {"new_part": 1250, "unused": 750}
    body = review.content.decode()
    assert "12.50 credits" in body and "7.50 credits" in body
    assert "Net charge" in body
    response = admin_client.post(
        "/members/zoe/change/", {"plan": "ultra", "confirm_amount": "500"}
    )
    assert response.status_code == 302
    txn = LedgerTransaction.objects.get(kind="member_change")
    assert txn.entries.get(account__code="wallet").amount == -500
    page = admin_client.get(response["Location"]).content.decode()
    assert "Charged 5.00 credits." in page


def test_cancel_and_delete_credit_the_unused_time(admin_client, funded, frozen):
    operations.member_create(uid="zoe", plan="pro", actor="tests")
    operations.member_create(uid="amy", plan="pro", actor="tests")
    frozen.advance(dt.timedelta(days=10))  # 20 of 30 days left: 10.00 back
    response = admin_client.get("/members/zoe/cancel/")
    assert b"Credit back" in response.content and b"10.00 credits" in response.content
    admin_client.post("/members/zoe/cancel/", {"confirm_amount": "-1000"})
    assert Member.objects.get(uid="zoe").status == "cancelled"
    response = admin_client.post("/members/amy/delete/", {"confirm_amount": "-1000"})
    assert response["Location"] == "/members/"
    assert Member.objects.get(uid="amy").status == "deleted"
    # a deleted member's page still shows its history, without actions
    page = admin_client.get("/members/amy/").content.decode()
    assert "Deleted amy: unused time credited" in page
    assert "/members/amy/cancel/" not in page


def test_rotating_shows_the_new_key_once(admin_client, funded):
    operations.member_create(uid="zoe", plan="pro", actor="tests")
    assert admin_client.get("/members/zoe/keys/rotate/").status_code == 200
    response = admin_client.post("/members/zoe/keys/rotate/")
    assert response["Cache-Control"] == "no-store"
    key = response.context["key"]
    assert key.count(".") == 2
    page = admin_client.get("/members/zoe/").content.decode()
    assert key not in page and key[-4:] in page


def test_member_settings_validate_next_to_the_field(admin_client, funded):
    operations.member_create(uid="zoe", plan="pro", actor="tests")
    response = admin_client.post("/members/zoe/settings/", {"quota": "-3"})
    assert 'id="id_quota_error"' in response.content.decode()
    admin_client.post("/members/zoe/settings/", {"quota": "10", "newsfeed": "no"})
    member = Member.objects.get(uid="zoe")
    assert (member.override_quota, member.override_newsfeed, member.auto_renew) == (
        10,
        False,
        False,
    )


def test_members_list_searches_filters_and_answers_htmx_with_the_table(
    viewer_client, funded
):
    operations.member_create(uid="zoe", plan="pro", actor="tests", full_name="Zoe Q")
    operations.member_create(uid="amy", plan="ultra", actor="tests")
    page = viewer_client.get("/members/?q=zoe%20q").content.decode()
    assert "/members/zoe/" in page and "/members/amy/" not in page
    page = viewer_client.get("/members/?plan=ultra").content.decode()
    assert "/members/amy/" in page and "/members/zoe/" not in page
    response = viewer_client.get(
        "/members/?q=nobody", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="members-table"
    )
    body = response.content.decode()
    assert "<html" not in body and "No member matches these filters" in body


# --- ledger, credits ------------------------------------------------------------------


def wallet_after_each() -> dict[int, int]:
    """The wallet's balance after each transaction, by brute force."""
    running, out = 0, {}
    for txn in LedgerTransaction.objects.order_by("id"):
        running += sum(
            e.amount
            for e in LedgerEntry.objects.filter(transaction=txn, account__code="wallet")
        )
        out[txn.pk] = running
    return out


def test_running_balance_is_right_on_every_page_and_with_filters(funded, monkeypatch):
    # checkpoints every 3 transactions, so pages span cached and partial blocks
    monkeypatch.setattr(balances, "CHECKPOINT", 3)
    cache.clear()
    for i in range(4):
        operations.member_create(uid=f"u{i}", plan="pro", actor="tests")
        ledger.credits_purchase(credits=10 + i, actor="tests")
    operations.member_cancel(uid="u1", actor="tests")
    expected = wallet_after_each()
    ids = sorted(expected, reverse=True)
    # walking all pages of 2, the newest pages start from the wallet balance and the
    # oldest from the beginning of the ledger
    seen, before = {}, None
    while True:
        page = ledger_reads.ledger_page(before=before, limit=2)
        seen.update({row.pk: row.balance_after for row in page.rows})
        if page.next_before is None:
            break
        before = page.next_before
    assert seen == expected and list(seen) == ids
    # the same from one filtered sum per row (what sparse pages use)
    monkeypatch.setattr(balances, "GROUPED_SPAN", 0)
    page = ledger_reads.ledger_page(limit=50)
    assert {r.pk: r.balance_after for r in page.rows} == expected
    monkeypatch.undo()
    monkeypatch.setattr(balances, "CHECKPOINT", 3)
    # a cache filled from another database (same wallet id) is noticed and rebuilt
    wallet_id, _, newest = balances.wallet_snapshot()
    key = f"portal:wallet-checkpoints:{wallet_id}:3"
    cache.set(key, ([0, 10**9, 2 * 10**9], (3, dt.datetime(2001, 1, 1, tzinfo=dt.UTC))))
    page = ledger_reads.ledger_page(limit=50)
    assert {r.pk: r.balance_after for r in page.rows} == expected
    assert len(cache.get(key)[0]) == newest // 3 + 1
    page = ledger_reads.ledger_page(kind="purchase")
    assert {r.pk: r.balance_after for r in page.rows} == {
        r.pk: expected[r.pk] for r in page.rows
    }
    assert len(page.rows) == 5


def test_csv_export_streams_every_row_with_balances(viewer_client, funded, monkeypatch):
    monkeypatch.setattr(ledger_reads, "CSV_CHUNK", 3)  # several chunks
    for i in range(4):
        operations.member_create(uid=f"u{i}", plan="pro", actor="tests")
    response = viewer_client.get("/ledger/export.csv?kind=member_create")
    assert response.streaming
    assert response["Content-Disposition"].startswith('attachment; filename="ledger-')
    rows = list(
        csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    )
    expected = wallet_after_each()
    assert [int(r["id"]) for r in rows] == sorted(
        LedgerTransaction.objects.filter(kind="member_create").values_list(
            "id", flat=True
        ),
        reverse=True,
    )
    for row in rows:
        assert row["wallet_balance_after"] == f"{expected[int(row['id'])] / 100:.2f}"
        assert row["wallet_amount"] == "-15.00"
    # unfiltered, every transaction, each chunk's balances from its own entries
    response = viewer_client.get("/ledger/export.csv")
    rows = list(
        csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    )
    assert {int(r["id"]): r["wallet_balance_after"] for r in rows} == {
        txn_id: f"{balance / 100:.2f}" for txn_id, balance in expected.items()
    }
    assert rows[-1]["counter_accounts"] == "external:purchases:-1000.00"


def test_quote_follows_the_volume_tiers(viewer_client):
    body = viewer_client.get("/credits/quote/?buy-credits=501").content.decode()
    assert "0.90 USD" in body and "450.90 USD" in body
    body = viewer_client.get("/credits/quote/?buy-credits=0").content.decode()
    assert "greater than or equal to 1" in body


def test_purchase_validates_next_to_the_field(admin_client, funded):
    response = admin_client.post("/credits/purchase/", {"buy-credits": "abc"})
    assert response.status_code == 400
    assert 'id="id_buy-credits_error"' in response.content.decode()
    # a valid quantity is reviewed first: the exact total and the wallet after
    response = admin_client.post("/credits/purchase/", {"buy-credits": "501"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "450.90 USD" in body and "1,000.00 → 1,501.00 credits" in body
    assert ledger.account_system(ledger.WALLET).balance == 100_000
    # a total that no longer holds is asked again; the shown one buys
    stale = {"buy-credits": "501", "confirm_total": "45000"}
    response = admin_client.post("/credits/purchase/", stale)
    assert b"The amounts changed since you looked" in response.content
    assert ledger.account_system(ledger.WALLET).balance == 100_000
    confirmed = {"buy-credits": "501", "confirm_total": "45090"}
    response = admin_client.post("/credits/purchase/", confirmed)
    assert response.status_code == 302
    assert ledger.account_system(ledger.WALLET).balance == 150_100


def test_refund_shows_the_fee_then_refunds_on_confirm(owner_client, funded):
    response = owner_client.post("/credits/refund/", {"refund-credits": "100"})
    body = response.content.decode()
    # 100 credits bought at 0.90: 90.00 USD, 10% fee 9.00, 81.00 paid out
    assert "90.00 USD" in body and "9.00 USD" in body and "81.00 USD" in body
    assert "1,000.00 → 900.00 credits" in body
    assert not CashRefund.objects.exists()
    owner_client.post(
        "/credits/refund/", {"refund-credits": "100", "confirm_total": "8100"}
    )
    refund = CashRefund.objects.get()
    assert (refund.fee_cents, refund.net_cents) == (900, 8100)


# --- organisation settings ------------------------------------------------------------


def test_org_settings_are_validated_and_audited(owner_client):
    response = owner_client.post(
        "/settings/",
        {
            "reminder_days": "7, 0",
            "renew_lead_hours": "12",
            "low_balance_days": "3",
            "notify_emails": "ops@example.com, not-an-address",
        },
    )
    body = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_reminder_days_error"' in body
    assert "not-an-address" in body
    response = owner_client.post(
        "/settings/",
        {
            "reminder_days": "1, 7, 3",
            "renew_lead_hours": "12",
            "low_balance_days": "3",
            "notify_emails": "ops@example.com; billing@example.com",
        },
    )
    assert response.status_code == 302
    row = OrgSettings.objects.get(pk=1)
    assert row.reminder_days == [7, 3, 1] and row.auto_renew_default is False
    assert row.email_list == ["ops@example.com", "billing@example.com"]
    event = AuditEvent.objects.get(action="org.settings")
    assert event.actor == "staff:olivia" and event.after["low_balance_days"] == 3


def test_dashboard_alerts_on_failed_deliveries_and_low_balance(viewer_client, funded):
    from tests.portal import factories

    factories.webhook_delivery()
    for i in range(5):
        operations.member_create(uid=f"u{i}", plan="mega", actor="tests")
    Member.objects.update(term_end=dt.datetime.now(dt.UTC) + dt.timedelta(days=2))
    body = viewer_client.get("/").content.decode()
    assert "1 notification delivery failed or gave up." in body
    # five mega renewals (250.00) due against 750.00: covered, no low-balance alert
    assert "Low balance" not in body
    for i in range(5, 20):
        operations.member_create(uid=f"u{i}", plan="mega", actor="tests")
    Member.objects.update(term_end=dt.datetime.now(dt.UTC) + dt.timedelta(days=2))
    body = viewer_client.get("/").content.decode()
    assert "Low balance: renewals due in the next 7 days cost 1,000.00 credits" in body


# --- notifications and webhooks ----------------------------------------------------


def test_webhook_endpoint_secret_shown_once_and_redelivery(
    owner_client, admin_client, settings
):
    from notifications.models import Delivery, WebhookEndpoint
    from tests.notifications.webhook_receiver import Receiver
    from tests.portal import factories

    # the receiver is on loopback, which only the development setting allows
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    receiver = Receiver().start()
    try:
        # a bad URL is refused next to the field
        response = owner_client.post("/webhooks/new/", {"url": "ftp://x"})
        assert 'id="id_url_error"' in response.content.decode()
        response = owner_client.post(
            "/webhooks/new/",
            {"url": receiver.url, "events": ["org.low_balance"], "active": "on"},
        )
        assert response["Cache-Control"] == "no-store"
        receiver.secret = response.context["secret"]
        endpoint = WebhookEndpoint.objects.get(url=receiver.url)
        assert endpoint.events == ["org.low_balance"]
        assert (
            receiver.secret not in owner_client.get("/notifications/").content.decode()
        )
        # a delivery that gave up is sent again on request, signed with that secret
        _, delivery = factories.webhook_delivery()
        Delivery.objects.filter(pk=delivery.pk).update(
            endpoint=endpoint, destination=receiver.url
        )
        response = admin_client.post(
            f"/notifications/deliveries/{delivery.pk}/redeliver/"
        )
        assert response.status_code == 302
        delivery.refresh_from_db()
        assert delivery.status == Delivery.Status.DELIVERED
        assert receiver.count() == 1 and receiver.received[0].verified
        page = admin_client.get(response["Location"]).content.decode()
        assert "Redelivered" in page and "(manual)" in page
        assert AuditEvent.objects.filter(action="delivery.redeliver").exists()
    finally:
        receiver.stop()


def test_an_older_ledger_page_links_back_to_the_newest(viewer_client, funded):
    # given: a few transactions
    for i in range(3):
        ledger.credits_purchase(credits=10 + i, actor="tests")
    newest = ledger_reads.ledger_page(limit=1)
    # when: the first page, then an older one
    first = viewer_client.get("/ledger/").content.decode()
    older = viewer_client.get(f"/ledger/?before={newest.rows[0].pk}").content.decode()
    # then: only the older page offers the way back
    assert "← Newest" not in first
    assert "← Newest" in older
