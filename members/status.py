"""A member's status at an instant, as the product shows and enforces it.

Upstream never renews on its own and never tells when a term ends: a member whose row
says active but whose term has ended is expired from that instant on, before the
expiry task writes it into the row. `status_at` is the rule in Python;
`MemberQuerySet.status_at` (members/models.py) is the same rule in SQL.
"""

import datetime as dt

from members.models import Member


def status_at(status: str, term_end: dt.datetime, at: dt.datetime) -> str:
    """`status` (a Member.Status value) as it stands at `at`."""
    if status == Member.Status.ACTIVE and term_end <= at:
        return Member.Status.EXPIRED
    return status
