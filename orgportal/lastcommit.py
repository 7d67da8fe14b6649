"""A transaction's last statement sent together with its COMMIT.

A statement that locks a row everybody needs (the wallet) holds that lock until its
transaction commits. Sent one after the other, the statement and COMMIT are two round
trips with this thread's own scheduling in between: under load the thread waits for
the GIL or a core while PostgreSQL holds the lock for everybody else (measured: a hold
of 1.2 ms at one client grew to 9.7 ms p50 at eight). Sent together (a psycopg
pipeline), the lock lasts as long as PostgreSQL takes to run both.

Only for the outermost atomic block, on PostgreSQL: the block's own COMMIT then finds
no transaction and sends nothing. Anywhere else (another database, a nested block, a
test's transaction around the code) the statement runs alone and the block commits as
usual.
"""

from django.db import transaction


def can_commit_here() -> bool:
    """Whether `execute_then_commit` would commit (the outermost atomic block, on
    PostgreSQL, nothing failed so far)."""
    conn = transaction.get_connection()
    return (
        conn.vendor == "postgresql"
        and len(conn.atomic_blocks) == 1
        and not conn.needs_rollback
        and conn.connection is not None
    )


def execute_then_commit(sql: str, params) -> list[tuple]:
    """Run `sql`, the last statement of its transaction, and commit the transaction in
    the same round trip (`can_commit_here()` must hold); its rows. A statement that
    fails leaves the transaction aborted, uncommitted: the block rolls it back (or
    `abandon()`)."""
    if not can_commit_here():
        raise RuntimeError("execute_then_commit outside the outermost atomic block")
    conn = transaction.get_connection()
    pg = conn.connection
    with conn.wrap_database_errors, pg.pipeline(), conn.cursor() as cursor:
        cursor.execute(sql, params)
        pg.commit()
        rows = cursor.fetchall()
    return rows


def abandon() -> None:
    """After a statement of `execute_then_commit` failed: end the aborted transaction
    now, so the caller can read what it needs to say why (the block's own rollback then
    finds nothing to roll back)."""
    conn = transaction.get_connection()
    if conn.vendor == "postgresql" and conn.connection is not None:
        conn.connection.rollback()
