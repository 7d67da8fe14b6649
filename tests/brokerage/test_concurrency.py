"""Refreshes racing on PostgreSQL: a rotating refresh token is sent once, however many
processes try at the same moment."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from brokerage import services
from brokerage.models import BrokerageLink
from brokerage.services import RefreshOutcome
from members.crypto import decrypt
from tests.brokerage.conftest import aries_link, aries_settings, aries_user
from tests.portal import factories

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]
THREADS = 16


def in_parallel(fn, count: int) -> list:
    barrier = threading.Barrier(count)

    def worker(_):
        barrier.wait()
        try:
            return fn()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(worker, range(count)))


@pytest.fixture
def due_link(aries):
    """A link whose access token expires within the refresh lead, while the tokens
    Aries issues from now on are not due."""
    member = factories.members(1, prefix="race")[0]
    aries_settings(aries, token_seconds=300)
    user = aries_user(aries)
    aries_settings(aries, token_seconds=3600)
    return aries_link(member, user), user


def test_parallel_refreshes_spend_the_refresh_token_once(aries, due_link):
    # given
    link, user = due_link
    issued_before = len(aries.state.aries.tokens.spent)
    # when
    outcomes = in_parallel(lambda: services.brokerage_refresh(link_id=link.pk), THREADS)
    # then: one refresh; the rest found it claimed, or done and no longer due
    counts = Counter(outcomes)
    assert counts[RefreshOutcome.REFRESHED] == 1, counts
    assert set(counts) <= {
        RefreshOutcome.REFRESHED,
        RefreshOutcome.BUSY,
        RefreshOutcome.NOT_DUE,
    }
    assert len(aries.state.aries.tokens.spent) == issued_before + 1
    stored = BrokerageLink.objects.get(pk=link.pk)
    assert stored.failed_at is None and stored.failure == ""
    assert stored.refresh_claim == ""
    assert decrypt(stored.refresh_token_encrypted) in aries.state.aries.tokens.refresh


def test_parallel_forced_refreshes_never_fail_the_link(aries, due_link):
    # given
    link, _ = due_link
    # when every thread insists, even after another has refreshed
    outcomes = in_parallel(
        lambda: services.brokerage_refresh(link_id=link.pk, force=True), THREADS
    )
    # then: refreshes happen one after another, each with the token the last stored
    counts = Counter(outcomes)
    assert counts[RefreshOutcome.REFRESHED] >= 1
    assert set(counts) <= {RefreshOutcome.REFRESHED, RefreshOutcome.BUSY}
    assert len(aries.state.aries.tokens.spent) == counts[RefreshOutcome.REFRESHED]
    stored = BrokerageLink.objects.get(pk=link.pk)
    assert stored.failed_at is None
    assert decrypt(stored.refresh_token_encrypted) in aries.state.aries.tokens.refresh
