"""Writes made together: inside `writes_together()`, updates and inserts registered with
`update_later` / `insert_later` are made when the block ends, on PostgreSQL in one
statement (each write a data-modifying CTE: one round trip instead of one each),
elsewhere one after the other.

In one statement every write sees the database as it was before the statement, not
the others' effects: only writes that do not read each other's rows belong together
(a term closed and the next one inserted, the member row, the operation row, audit
rows). What each write touched is counted, for writes that must touch a row
(`Write.rows`)."""

import contextlib
import contextvars
from dataclasses import dataclass

from django.db import connection, models
from django.db.models import sql

_pending: contextvars.ContextVar[list["Write"] | None] = contextvars.ContextVar(
    "writes_together", default=None
)


@dataclass
class Write:
    sql: str
    params: tuple
    rows: int | None = None  # rows it touched, once made


def _update(queryset: models.QuerySet, values: dict) -> Write:
    query = queryset.query.chain(sql.UpdateQuery)
    query.add_update_values(values)
    statement, params = query.get_compiler(queryset.db).as_sql()
    return Write(statement, tuple(params))


def _insert(row: models.Model) -> Write:
    fields = [f for f in row._meta.concrete_fields if not f.primary_key]
    query = sql.InsertQuery(type(row))
    query.insert_values(fields, [row])
    [(statement, params)] = query.get_compiler(connection.alias).as_sql()
    return Write(statement, tuple(params))


def update_later(queryset: models.QuerySet, **values) -> Write:
    """`queryset.update(**values)`, made with the block's other writes (at once outside
    a block)."""
    return _register(_update(queryset, values))


def insert_later(row: models.Model) -> Write:
    """Insert `row` (its primary key stays unset), made with the block's other writes
    (at once outside a block)."""
    return _register(_insert(row))


def row_fields(row: models.Model) -> dict:
    """Every column of `row` but its primary key, for `update_later` (a whole-row save)."""
    return {
        f.attname: getattr(row, f.attname)
        for f in row._meta.concrete_fields
        if not f.primary_key
    }


def _register(write: Write) -> Write:
    pending = _pending.get()
    if pending is None:
        _make([write])
    else:
        pending.append(write)
    return write


@contextlib.contextmanager
def writes_together():
    """Writes registered in the block are made when it ends (none if it raises), in
    the order registered where they are made one by one."""
    pending: list[Write] = []
    reset = _pending.set(pending)
    try:
        yield
    finally:
        _pending.reset(reset)
    if pending:
        _make(pending)


def _make(writes: list[Write]) -> None:
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql" or len(writes) == 1:
            for write in writes:
                cursor.execute(write.sql, write.params)
                write.rows = cursor.rowcount
            return
        parts, counts, params = [], [], []
        for n, write in enumerate(writes):
            parts.append(f"w{n} AS ({write.sql} RETURNING 1)")
            counts.append(f"(SELECT count(*) FROM w{n})")  # noqa: S608 - compiled SQL
            params.extend(write.params)
        cursor.execute(f"WITH {', '.join(parts)} SELECT {', '.join(counts)}", params)
        for write, rows in zip(writes, cursor.fetchone(), strict=True):
            write.rows = rows
