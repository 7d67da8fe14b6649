"""Refreshing brokerage links against the sandbox's Aries token endpoint: rotation,
invalid_grant, transient failures retried, claims, and the beat task."""

import datetime as dt
import json

import pytest

from brokerage import rules, services, tasks
from brokerage.models import BrokerageLink
from brokerage.services import RefreshOutcome
from members.crypto import decrypt
from members.models import AuditEvent
from orgportal import clock
from tests.brokerage.conftest import (
    aries_link,
    aries_settings,
    aries_user,
    link_body,
    put,
    token_endpoint,
)
from tests.portal import factories

pytestmark = pytest.mark.django_db


def fresh(link: BrokerageLink) -> BrokerageLink:
    return BrokerageLink.objects.get(pk=link.pk)


def refresh_token_of(link: BrokerageLink) -> str:
    return decrypt(fresh(link).refresh_token_encrypted)


def failure_audits() -> list[dict]:
    return list(
        AuditEvent.objects.filter(action="brokerage.refresh_failed")
        .order_by("id")
        .values("before", "after")
    )


# --- rotation -------------------------------------------------------------------------


def test_a_due_link_gets_a_new_pair_and_the_old_refresh_token_is_spent(
    aries, member, frozen, changed, django_capture_on_commit_callbacks
):
    # given a link whose access token expires in 10 minutes (inside the 15-minute lead)
    aries_settings(aries, token_seconds=600)
    user = aries_user(aries)
    link = aries_link(member, user)
    aries_settings(aries, token_seconds=3600)
    frozen.advance(dt.timedelta(minutes=1))
    # when
    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.brokerage_refresh(link_id=link.pk)
    # then
    assert outcome is RefreshOutcome.REFRESHED
    link = fresh(link)
    new_access = decrypt(link.access_token_encrypted)
    assert new_access != user["access_token"]
    assert refresh_token_of(link) != user["refresh_token"]
    assert aries.state.aries.tokens.verify(new_access) is not None
    assert link.expires_at == rules.access_token_expiry(new_access)
    assert link.expires_at == clock.now() + dt.timedelta(hours=1)
    assert link.refreshed_at == clock.now()
    assert link.account_ids == user["account_ids"]
    assert changed == [member.pk]
    # the spent refresh token is dead upstream; the stored one is live
    assert token_endpoint(aries, user["refresh_token"]).json()["error"] == (
        "invalid_grant"
    )
    assert refresh_token_of(link) in aries.state.aries.tokens.refresh


def test_the_api_shows_the_refresh(aries, member, frozen, api):
    # given a linked member whose token is due
    user = aries_user(aries)
    put(api, member.uid, {k: user[k] for k in link_body()})
    frozen.advance(dt.timedelta(minutes=50))
    # when
    services.brokerage_refresh(link_id=fresh_link(member).pk)
    # then
    out = api.get(f"/api/organization/members/{member.uid}/brokerage").json()
    assert out["brokerage"]["token_status"] == "valid"
    assert out["brokerage"]["refreshed_at"] == "2026-03-01T12:50:00.000Z"
    assert out["brokerage"]["expires_at"] == "2026-03-01T13:50:00.000Z"


def fresh_link(member) -> BrokerageLink:
    return BrokerageLink.objects.get(member=member)


def test_a_link_not_due_sends_nothing(aries, member):
    # given a token valid for an hour (the lead is 15 minutes)
    user = aries_user(aries)
    link = aries_link(member, user)
    # when
    outcome = services.brokerage_refresh(link_id=link.pk)
    # then: the refresh token was not spent
    assert outcome is RefreshOutcome.NOT_DUE
    assert user["refresh_token"] in aries.state.aries.tokens.refresh
    assert fresh(link).refreshed_at is None


def test_force_refreshes_a_link_not_due(aries, member):
    link = aries_link(member, aries_user(aries))
    assert services.brokerage_refresh(link_id=link.pk, force=True) is (
        RefreshOutcome.REFRESHED
    )


def test_an_expired_link_is_refreshed(aries, member, frozen):
    # given a link whose access token expired an hour ago
    link = aries_link(member, aries_user(aries))
    frozen.advance(dt.timedelta(hours=2))
    # when
    outcome = services.brokerage_refresh(link_id=link.pk)
    # then
    assert outcome is RefreshOutcome.REFRESHED
    assert fresh(link).expires_at == clock.now() + dt.timedelta(hours=1)


# --- invalid_grant -----------------------------------------------------------------------


def test_invalid_grant_fails_the_link_for_good(
    aries, member, frozen, api, changed, django_capture_on_commit_callbacks
):
    # given a link whose refresh token Aries revoked
    user = aries_user(aries)
    link = aries_link(member, user)
    aries_settings(aries, expire_token=user["user_id"], revoke_refresh=True)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.brokerage_refresh(link_id=link.pk, force=True)
    # then
    assert outcome is RefreshOutcome.FAILED
    link = fresh(link)
    assert link.failed_at == clock.now()
    assert "invalid_grant" in link.failure
    assert decrypt(link.refresh_token_encrypted) == user["refresh_token"]
    out = api.get(f"/api/organization/members/{member.uid}/brokerage").json()
    assert out["brokerage"]["token_status"] == "failed"
    assert out["brokerage"]["failure"]["permanent"] is True
    assert changed == [member.pk]
    (audit,) = failure_audits()
    assert audit["after"]["permanent"] is True
    text = json.dumps(audit)
    assert user["refresh_token"] not in text and user["access_token"] not in text
    # a failed link is never refreshed again, due or forced
    assert services.brokerage_refresh(link_id=link.pk, force=True) is (
        RefreshOutcome.FAILED
    )
    assert len(failure_audits()) == 1


def test_a_refresh_token_spent_elsewhere_fails_the_link(aries, member):
    # given another client used the link's refresh token
    user = aries_user(aries)
    link = aries_link(member, user)
    assert token_endpoint(aries, user["refresh_token"]).status_code == 200
    # when
    outcome = services.brokerage_refresh(link_id=link.pk, force=True)
    # then
    assert outcome is RefreshOutcome.FAILED


def test_a_new_link_revives_a_failed_one(aries, member, api):
    # given a failed link
    user = aries_user(aries)
    link = aries_link(member, user)
    token_endpoint(aries, user["refresh_token"])
    services.brokerage_refresh(link_id=link.pk, force=True)
    # when the parent SaaS links the user's new tokens
    again = aries_user(aries)
    put(api, member.uid, {k: again[k] for k in link_body()})
    # then
    assert services.brokerage_refresh(link_id=link.pk, force=True) is (
        RefreshOutcome.REFRESHED
    )
    assert fresh(link).failure == ""


# --- transient failures --------------------------------------------------------------------


def test_5xx_answers_are_retried_with_the_same_token(aries, member, faulty_aries):
    # given Aries answers 503 twice, then serves
    user = aries_user(aries)
    link = aries_link(member, user)
    proxy = faulty_aries(["503", "503"])
    # when
    outcome = services.brokerage_refresh(link_id=link.pk, force=True)
    # then
    assert outcome is RefreshOutcome.REFRESHED
    assert proxy.seen == ["503", "503", "pass"]
    assert failure_audits() == []


def test_aries_down_keeps_the_link_and_records_why(
    aries, member, faulty_aries, settings, api
):
    # given Aries answers 503 to every attempt
    user = aries_user(aries)
    link = aries_link(member, user)
    proxy = faulty_aries(["503"] * (settings.UPSTREAM_MAX_RETRIES + 1))
    # when
    outcome = services.brokerage_refresh(link_id=link.pk, force=True)
    # then: every attempt was made, nothing was lost, the reason is shown
    assert outcome is RefreshOutcome.UNAVAILABLE
    assert proxy.seen == ["503"] * (settings.UPSTREAM_MAX_RETRIES + 1)
    link = fresh(link)
    assert link.failed_at is None
    assert "HTTP 503" in link.failure
    assert refresh_token_of(link) == user["refresh_token"]
    assert link.refresh_claim == "" and link.refresh_claimed_until is None
    out = api.get(f"/api/organization/members/{member.uid}/brokerage").json()
    assert out["brokerage"]["token_status"] == "valid"
    assert out["brokerage"]["failure"]["permanent"] is False
    (audit,) = failure_audits()
    assert audit["after"]["permanent"] is False
    # when Aries is back, the next run succeeds and clears the failure
    assert services.brokerage_refresh(link_id=link.pk, force=True) is (
        RefreshOutcome.REFRESHED
    )
    assert fresh(link).failure == ""


def test_unreachable_aries_is_transient(aries, member, settings, closed_port):
    # given
    user = aries_user(aries)
    link = aries_link(member, user)
    settings.UPSTREAM_ARIES_URL = f"http://127.0.0.1:{closed_port}"
    # when
    outcome = services.brokerage_refresh(link_id=link.pk, force=True)
    # then
    assert outcome is RefreshOutcome.UNAVAILABLE
    assert "cannot connect" in fresh(link).failure
    assert fresh(link).failed_at is None


def test_a_timeout_before_aries_answered_is_retried(aries, member, faulty_aries):
    # given Aries is slow to take the first attempt: the client gives up before the
    # token is spent
    user = aries_user(aries)
    link = aries_link(member, user)
    proxy = faulty_aries(["slow"])
    # when
    outcome = services.brokerage_refresh(link_id=link.pk, force=True)
    # then: the retry got the new pair (the late first attempt is refused later)
    assert proxy.seen[:2] == ["slow", "pass"]
    assert outcome is RefreshOutcome.REFRESHED
    assert fresh(link).failure == ""


def test_a_lost_answer_is_retried(aries, member, faulty_aries):
    # given Aries rotates the token but its answer never arrives in time, once
    user = aries_user(aries)
    link = aries_link(member, user)
    proxy = faulty_aries(["hang"])
    # when
    outcome = services.brokerage_refresh(link_id=link.pk, force=True)
    # then: the retry sent the same token, which that lost answer had spent: a
    # rotating server cannot give the pair again, so the link failed, and says why
    assert proxy.seen == ["hang", "pass"]
    assert outcome is RefreshOutcome.FAILED
    assert "answer was lost" in fresh(link).failure


# --- claims and changes while a refresh runs ------------------------------------------


def test_a_claimed_refresh_is_not_sent_twice(aries, member, frozen):
    # given another process claimed the refresh a moment ago
    user = aries_user(aries)
    link = aries_link(member, user)
    BrokerageLink.objects.filter(pk=link.pk).update(
        refresh_claim="other",
        refresh_claimed_until=clock.now() + dt.timedelta(seconds=30),
    )
    # when
    outcome = services.brokerage_refresh(link_id=link.pk, force=True)
    # then
    assert outcome is RefreshOutcome.BUSY
    assert user["refresh_token"] in aries.state.aries.tokens.refresh
    # once the claim's lease has run out (its process died), the refresh goes ahead
    frozen.advance(dt.timedelta(seconds=31))
    assert services.brokerage_refresh(link_id=link.pk, force=True) is (
        RefreshOutcome.REFRESHED
    )


def test_a_link_replaced_while_refreshing_keeps_its_new_pair(
    aries, member, monkeypatch
):
    # given a refresh that is under way when the parent SaaS replaces the link
    link = aries_link(member, aries_user(aries))
    replacement = aries_user(aries)
    real = services.upstream.shared_client

    class ReplaceMidCall:
        def refresh(self, token):
            pair = real().refresh(token)
            aries_link(member, replacement)
            return pair

    monkeypatch.setattr(services.upstream, "shared_client", ReplaceMidCall)
    # when
    outcome = services.brokerage_refresh(link_id=link.pk, force=True)
    # then: the pair the old token bought is dropped, the new link is intact
    assert outcome is RefreshOutcome.GONE
    assert refresh_token_of(link) == replacement["refresh_token"]
    assert decrypt(fresh(link).access_token_encrypted) == replacement["access_token"]


def test_a_link_removed_while_refreshing_stays_removed(aries, member, monkeypatch):
    link = aries_link(member, aries_user(aries))
    real = services.upstream.shared_client

    class UnlinkMidCall:
        def refresh(self, token):
            pair = real().refresh(token)
            services.brokerage_unlink(uid=member.uid, actor="tests")
            return pair

    monkeypatch.setattr(services.upstream, "shared_client", UnlinkMidCall)
    assert services.brokerage_refresh(link_id=link.pk, force=True) is (
        RefreshOutcome.GONE
    )
    assert not BrokerageLink.objects.exists()


def test_an_unknown_link(aries, db):
    assert services.brokerage_refresh(link_id=10**9) is RefreshOutcome.GONE


# --- the beat task ------------------------------------------------------------------------


def test_the_beat_task_refreshes_what_is_due_and_drops_deleted_members_links(
    aries, frozen, settings
):
    # given three linked members: one due, one not, one deleted since
    due, later, gone = factories.members(3, prefix="beat")
    aries_settings(aries, token_seconds=300)
    aries_link(due, aries_user(aries))
    aries_settings(aries, token_seconds=3600)
    aries_link(later, aries_user(aries))
    aries_link(gone, aries_user(aries))
    gone.status = "deleted"
    gone.save()
    # when
    result = tasks.brokerage_refresh_due()
    # then
    assert result == {"purged": 1, "refreshed": 1}
    assert BrokerageLink.objects.get(member=due).refreshed_at == clock.now()
    assert BrokerageLink.objects.get(member=later).refreshed_at is None
    assert not BrokerageLink.objects.filter(member=gone).exists()
    assert AuditEvent.objects.filter(action="brokerage.purge").count() == 1
    # and the run is scheduled
    entry = settings.CELERY_BEAT_SCHEDULE["brokerage-refresh"]
    assert entry["task"] == "brokerage.tasks.brokerage_refresh_due"


def test_the_task_refreshes_one_link(aries, member):
    link = aries_link(member, aries_user(aries))
    assert tasks.brokerage_refresh(link.pk, force=True) == "refreshed"
