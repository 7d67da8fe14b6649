"""Inserting a row that a unique constraint may already hold."""

import contextlib
from typing import TypeVar

from django.db import IntegrityError, models, transaction

M = TypeVar("M", bound=models.Model)


def insert_once(row: M) -> M | None:
    """Insert `row`; None when the database refuses it (its unique key is taken).
    Inside a transaction the insert runs in a savepoint, so the caller's transaction
    survives a refusal; outside one it is a single autocommitted statement (no
    BEGIN, SAVEPOINT or COMMIT round trips)."""
    in_transaction = transaction.get_connection().in_atomic_block
    try:
        with transaction.atomic() if in_transaction else contextlib.nullcontext():
            row.save(force_insert=True)
    except IntegrityError:
        return None
    return row
