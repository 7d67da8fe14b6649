"""Inserting a row that a unique constraint may already hold."""

from typing import TypeVar

from django.db import IntegrityError, models, transaction

M = TypeVar("M", bound=models.Model)


def insert_once(row: M) -> M | None:
    """Insert `row` in a savepoint, so the caller's transaction survives a refusal;
    None when the database refuses it (its unique key is taken)."""
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:
        return None
    return row
