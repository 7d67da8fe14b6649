"""Rows that rarely change and that every member mutation reads, kept in this process
for at most CACHE_SECONDS: the plans (by name and by id) and the organisation's
settings row.

A change made in this process empties them at once (a model save or delete, and again
at commit; the plan sync, which also updates in bulk, empties them itself). Another
process sees a change within CACHE_SECONDS, the bound a service token's cache keeps
(`members.auth`). Plans are themselves the upstream's list copied by the plan sync, so
a price changed upstream reaches a member's charge no sooner than its next sync anyway.
Callers get their own copy of a cached row, so changing it changes no one else's.
"""

import copy
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import transaction
from django.db.models.signals import post_delete, post_save

from members.models import OrgSettings, Plan

CACHE_SECONDS = 5.0
T = TypeVar("T")


class TtlCache:
    """Rows by key for at most `seconds`, a missing row (None) too: a deployment that
    never saved settings reads the defaults without asking the database each time."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._rows: dict = {}
        self._lock = threading.Lock()

    def get(self, key, load: Callable[[], T | None]) -> T | None:
        now = time.monotonic()
        found = self._rows.get(key)
        if found is None or found[0] <= now:
            found = (now + self.seconds, load())
            with self._lock:
                self._rows[key] = found
        return copy.copy(found[1])

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()


PLANS = TtlCache(CACHE_SECONDS)
SETTINGS = TtlCache(CACHE_SECONDS)


def caches_clear(**_signal) -> None:
    """Now, and again at commit: a read between the two may have cached the row as it
    was before the change."""
    PLANS.clear()
    SETTINGS.clear()
    transaction.on_commit(caches_reset)


def caches_reset() -> None:
    """Empty both caches now (no transaction involved)."""
    PLANS.clear()
    SETTINGS.clear()


for _model in (Plan, OrgSettings):
    post_save.connect(caches_clear, sender=_model)
    post_delete.connect(caches_clear, sender=_model)


def plan_named(name: str) -> Plan | None:
    return PLANS.get(("name", name), lambda: Plan.objects.filter(name=name).first())


def plan_by_id(pk: int) -> Plan | None:
    return PLANS.get(("id", pk), lambda: Plan.objects.filter(pk=pk).first())


def org_settings_row() -> OrgSettings | None:
    return SETTINGS.get(1, lambda: OrgSettings.objects.filter(pk=1).first())
