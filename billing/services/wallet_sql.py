"""The wallet statements of member operations, as SQL (PostgreSQL): each one round
trip, each the last statement of its transaction (`orgportal.lastcommit`)."""

import functools

from django.db import connection

from billing.models import Account, LedgerEntry, LedgerTransaction

# Hold `amount` if the balance minus what is held covers it. Not covered: the statement
# fails (division by zero), so a COMMIT sent with it never commits the operation it
# would have held for; the caller then reads the balance to say why.
_HOLD = """
WITH hold AS (
    UPDATE {account} SET held = held + %(amount)s
    WHERE code = %(wallet)s AND balance - held >= %(amount)s
    RETURNING 1
)
SELECT 1 / count(*)::int FROM hold
"""

# Release the hold and post the amount (none for 0). No wallet row with an amount to
# post: the entry's account is NULL and the statement fails.
_SETTLE = """
WITH wallet AS (
    UPDATE {account} SET held = held - %(hold)s WHERE code = %(wallet)s RETURNING id
), txn AS (
    INSERT INTO {txn} (kind, memo, actor, member_id, operation_id, created_at)
    SELECT %(kind)s, %(memo)s, %(actor)s, %(member)s, %(operation)s, %(at)s
    WHERE %(amount)s <> 0
    RETURNING id
)
INSERT INTO {entry} (transaction_id, account_id, amount)
SELECT txn.id, (SELECT id FROM wallet), -%(amount)s FROM txn
UNION ALL
SELECT txn.id, %(member_account)s, %(amount)s FROM txn
RETURNING transaction_id
"""


@functools.cache
def _names() -> dict[str, str]:
    tables = {
        "account": Account._meta.db_table,
        "txn": LedgerTransaction._meta.db_table,
        "entry": LedgerEntry._meta.db_table,
    }
    return {k: connection.ops.quote_name(v) for k, v in tables.items()}


def hold_sql() -> str:
    return _HOLD.format(**_names())


def settle_sql() -> str:
    return _SETTLE.format(**_names())
