"""What the account stream gateway reads of a member's brokerage link (brokerage app),
off the event loop: the accounts the member may see, the access token, and a fresh
token when upstream refuses or is about to expire the current one."""

import datetime as dt
import time
from dataclasses import dataclass

from accountstream.protocol import TokenFailed, TokenRetry
from brokerage.models import BrokerageLink
from brokerage.services import RefreshOutcome, brokerage_refresh
from marketdata.db import in_thread
from members.crypto import decrypt


@dataclass(frozen=True, slots=True)
class Link:
    member_id: int
    link_id: int
    account_ids: frozenset[str]
    linked_at: (
        dt.datetime
    )  # a new token pair (a new link) restarts the upstream session
    failed: bool


def _row(member_id: int):
    return BrokerageLink.objects.filter(member_id=member_id).first()


def _link(row) -> Link:
    return Link(
        member_id=row.member_id,
        link_id=row.pk,
        account_ids=frozenset(row.account_ids),
        linked_at=row.linked_at,
        failed=row.failed_at is not None,
    )


async def load(member_id: int) -> Link | None:
    row = await in_thread(_row)(member_id)
    return None if row is None else _link(row)


async def access_token(member_id: int) -> str:
    row = await in_thread(_row)(member_id)
    if row is None or row.failed_at is not None:
        raise TokenFailed(
            "the brokerage link is gone or failed; link the account again"
        )
    return decrypt(row.access_token_encrypted)


BUSY_WAIT_S = 5.0  # how long to wait for another process's refresh to land


def _refreshed(member_id: int, rejected: str) -> str:
    deadline = time.monotonic() + BUSY_WAIT_S
    while True:
        row = _row(member_id)
        if row is None or row.failed_at is not None:
            raise TokenFailed(
                "the brokerage refused the link's refresh token; link the account again"
            )
        token = decrypt(row.access_token_encrypted)
        if token != rejected:
            return token  # refreshed meanwhile, here or in another process
        # One process at a time: the service claims the link, the refresh token
        # rotates once.
        outcome = brokerage_refresh(link_id=row.pk, force=True)
        if outcome == RefreshOutcome.UNAVAILABLE:
            raise TokenRetry("the brokerage's token endpoint did not answer")
        if outcome == RefreshOutcome.BUSY:
            if time.monotonic() > deadline:
                raise TokenRetry("another process is still refreshing the token")
            time.sleep(0.1)


async def refreshed_token(member_id: int, rejected: str) -> str:
    """An access token other than `rejected`: one another process already stored, or
    a fresh one from the brokerage; TokenFailed when the link cannot give one."""
    return await in_thread(_refreshed)(member_id, rejected)
