"""Ninety days of scheduled work over 200 members, checked against an independent model.

Members on mixed plans (a custom one too) join over the first 30 days, three in four
auto-renew. The wallet is sized to run dry around day 40 and is topped up on day 50, so
renewals succeed, wait for credits, fail into expiry and resume. Beat runs every six
hours (every tenth run fired twice). The model below knows only the rules in design.md
and the renewals issue; the ledger, every member's final state and the full set of
notifications must match it exactly.
"""

import dataclasses
import datetime as dt

import pytest

from billing.ledgercheck import ledger_violations
from billing.services import ledger
from members.models import Member
from members.services import operations
from notifications.models import Notification
from renewals.services.run import renewals_run

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

DAY = dt.timedelta(days=1)
STEP = dt.timedelta(hours=6)
TERM = dt.timedelta(days=30)
LEAD = dt.timedelta(hours=24)
REMINDER_DAYS = (7, 3, 1)
LOW_BALANCE_DAYS = 7
PLANS = (("pro", 1_500), ("ultra", 2_500), ("mega", 5_000), ("ultra_plus", 4_000))
MEMBERS = 200
INITIAL_CREDITS = 8_000
TOP_UP_DAY, TOP_UP_CREDITS = 50, 5_000


@dataclasses.dataclass
class ModelMember:
    uid: str
    seq: int
    plan: str
    price: int
    auto_renew: bool
    term_end: dt.datetime
    status: str = "active"


class Model:
    """The rules, restated without the ORM: what each scheduler run must do."""

    def __init__(self) -> None:
        self.wallet = 0
        self.members: list[ModelMember] = []
        self.sent: set[tuple] = set()
        self.low_since: dt.datetime | None = None

    def create(self, m: ModelMember) -> None:
        self.wallet -= m.price
        self.members.append(m)

    def run(self, t: dt.datetime) -> None:
        active = [m for m in self.members if m.status == "active"]
        for m in active:  # reminders: the most urgent whose time has come, once
            come = [d for d in REMINDER_DAYS if m.term_end - d * DAY <= t < m.term_end]
            if come:
                d = min(come)
                if not any(
                    ("reminder", m.uid, m.term_end, e) in self.sent
                    for e in REMINDER_DAYS
                    if e <= d
                ):
                    self.sent.add(("reminder", m.uid, m.term_end, d))
        due = [
            m for m in active if m.auto_renew and m.term_end - LEAD <= t < m.term_end
        ]
        for m in sorted(due, key=lambda m: (m.term_end, m.seq)):
            if self.wallet >= m.price:
                self.wallet -= m.price
                self.sent.add(("renewed", m.uid, m.term_end))
                m.term_end += TERM
            else:
                self.sent.add(("renewal_failed", m.uid, m.term_end))
        for m in active:
            if m.term_end <= t:
                m.status = "expired"
                self.sent.add(("expired", m.uid, m.term_end))
        forecast = sum(
            m.price
            for m in self.members
            if m.status == "active"
            and m.auto_renew
            and t < m.term_end <= t + LOW_BALANCE_DAYS * DAY
        )
        if forecast > self.wallet:
            if self.low_since is None:
                self.low_since = t
                self.sent.add(("low_balance", t))
        else:
            self.low_since = None


def observed() -> list[tuple]:
    out = []
    for n in Notification.objects.select_related("member").order_by("id"):
        data = n.payload
        if n.event == "org.low_balance":
            out.append(("low_balance", n.created_at))
            continue
        uid = n.member.uid
        if n.event == "member.renewal_due":
            end = dt.datetime.fromisoformat(data["member"]["term_end"])
            out.append(("reminder", uid, end, data["days_before"]))
        elif n.event == "member.renewed":
            out.append(
                ("renewed", uid, dt.datetime.fromisoformat(data["term_end"]) - TERM)
            )
        elif n.event == "member.renewal_failed":
            end = dt.datetime.fromisoformat(data["member"]["term_end"])
            out.append(("renewal_failed", uid, end))
        elif n.event == "member.expired":
            out.append(("expired", uid, dt.datetime.fromisoformat(data["expired_at"])))
    return out


def test_ninety_days_of_renewals_match_the_model(funded, sandbox, frozen):
    # given: the wallet holds exactly INITIAL_CREDITS
    ledger.ledger_adjust(
        amount=INITIAL_CREDITS * 100 - ledger.account_system(ledger.WALLET).balance,
        reason="simulation start",
        actor="tests",
    )
    start = frozen.now()
    model = Model()
    model.wallet = INITIAL_CREDITS * 100
    joining = {}
    for i in range(MEMBERS):
        plan, price = PLANS[i % len(PLANS)]
        joining.setdefault(start + (i % 120) * STEP, []).append(
            (f"m{i:03d}", plan, price, i % 4 != 0)
        )
    seq = 0
    # when: beat every six hours for ninety days
    for step in range(90 * 4 + 1):
        t = frozen.now()
        for uid, plan, price, auto_renew in joining.get(t, []):
            operations.member_create(
                uid=uid, plan=plan, actor="tests", auto_renew=auto_renew
            )
            model.create(ModelMember(uid, seq, plan, price, auto_renew, t + TERM))
            seq += 1
        if t == start + TOP_UP_DAY * DAY:
            ledger.credits_purchase(credits=TOP_UP_CREDITS, actor="tests")
            model.wallet += TOP_UP_CREDITS * 100
        renewals_run(at=t)
        if step % 10 == 0:
            renewals_run(at=t)  # beat fired twice
        model.run(t)
        frozen.advance(STEP)

    # then: the ledger to the hundredth
    assert ledger.account_system(ledger.WALLET).balance == model.wallet
    assert ledger_violations() == []
    # every member's final state, here and upstream
    final = {m.uid: m for m in Member.objects.all()}
    for m in model.members:
        local = final[m.uid]
        assert (local.status, local.term_end) == (m.status, m.term_end), m.uid
        assert sandbox.state.members[m.uid].plan_end_at == m.term_end, m.uid
    # every notification, exactly once
    seen = observed()
    assert len(seen) == len(set(seen))
    assert set(seen) == model.sent
    # and the run really exercised every path
    kinds = {k[0] for k in model.sent}
    assert kinds == {"reminder", "renewed", "renewal_failed", "expired", "low_balance"}
    statuses = {m.status for m in model.members}
    assert statuses == {"active", "expired"}
