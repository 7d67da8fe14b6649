"""What a member operation would cost, priced exactly as the operation will price it,
with no side effects."""

import datetime as dt
from dataclasses import dataclass

from billing import proration
from billing import selectors as wallet
from members.models import Member, Operation, Plan
from members.services.operations.state import (
    member_get_live,
    open_terms,
    paid_terms,
)
from members.services.plans import plan_for_new_term
from members.status import status_at
from orgportal import clock


@dataclass(frozen=True)
class Preview:
    from_plan: str | None
    # The plan after the operation: the member's own plan for a renewal or a cancel,
    # which the portal reads as "no plan change".
    to_plan: str
    amount: int  # hundredths; positive charges, negative credits
    balance: int
    available: int
    term_start: dt.datetime
    term_end: dt.datetime

    @property
    def charge(self) -> int:
        return max(self.amount, 0)

    @property
    def refund(self) -> int:
        return max(-self.amount, 0)

    @property
    def balance_after(self) -> int:
        return self.balance - self.amount


def change_kind(member: Member, plan: Plan) -> str:
    """Putting a member on its own plan again renews it; on another plan, changes it."""
    if plan.pk == member.plan_id:
        return Operation.Kind.RENEW
    return Operation.Kind.CHANGE


def change_amount(member: Member, plan: Plan, at: dt.datetime) -> int:
    """Hundredths charged (positive) or credited (negative) for putting `member` on
    `plan` at `at`."""
    if plan.pk == member.plan_id:
        return plan.price
    if status_at(member.status, member.term_end, at) != Member.Status.ACTIVE:
        return plan.price  # nothing left to prorate: bought whole
    return proration.change_charge(
        paid_terms(open_terms(member, at)), new_price=plan.price, at=at
    )


def cancel_credit(member: Member, at: dt.datetime) -> int:
    """Hundredths a cancel or delete at `at` credits back: the unused part of what was
    paid, nothing once the member is no longer active."""
    if status_at(member.status, member.term_end, at) != Member.Status.ACTIVE:
        return 0
    return proration.unused_value(paid_terms(open_terms(member, at)), at)


def member_preview(*, uid: str, plan: str, at: dt.datetime | None = None) -> Preview:
    """What putting the member on `plan` would cost at `at` (default now). No side effects."""
    member = member_get_live(uid)
    target = plan_for_new_term(plan)
    at = at or clock.now()
    amount = change_amount(member, target, at)
    balance, held = wallet.wallet_balance(), wallet.wallet_holds()
    if change_kind(member, target) == Operation.Kind.RENEW:
        start, end = proration.renewal_period(
            paid_terms(open_terms(member, at))
            if status_at(member.status, member.term_end, at) == Member.Status.ACTIVE
            else [],
            at=at,
        )
    else:
        start, end = at, at + proration.TERM
    return Preview(
        from_plan=member.plan.name,
        to_plan=target.name,
        amount=amount,
        balance=balance,
        available=balance - held,
        term_start=start,
        term_end=end,
    )


def member_create_preview(*, plan: str, at: dt.datetime | None = None) -> Preview:
    """What creating a member on `plan` would charge: the plan's full price."""
    target = plan_for_new_term(plan)
    at = at or clock.now()
    balance, held = wallet.wallet_balance(), wallet.wallet_holds()
    return Preview(
        from_plan=None,
        to_plan=target.name,
        amount=target.price,
        balance=balance,
        available=balance - held,
        term_start=at,
        term_end=at + proration.TERM,
    )


def member_cancel_preview(*, uid: str, at: dt.datetime | None = None) -> Preview:
    """What cancelling or deleting the member at `at` (default now) would credit back:
    the unused time of what was paid, as member_cancel and member_delete price it."""
    member = member_get_live(uid)
    at = at or clock.now()
    balance, held = wallet.wallet_balance(), wallet.wallet_holds()
    return Preview(
        from_plan=member.plan.name,
        to_plan=member.plan.name,
        amount=-cancel_credit(member, at),
        balance=balance,
        available=balance - held,
        term_start=member.term_start,
        term_end=min(member.term_end, at),
    )
