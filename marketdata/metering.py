"""Usage per member per UTC day, counted in memory on the hot path and added to the
database every few seconds (and at shutdown) in one short transaction."""

import asyncio
import datetime as dt
import logging
from collections import defaultdict

from django.db import transaction

from marketdata.db import in_thread
from members.models import UsageDay

log = logging.getLogger(__name__)


class _Counts:
    __slots__ = (
        "requests",
        "bytes_out",
        "upstream_ms",
        "refused",
        "ws_messages",
        "ws_bytes",
        "ws_seconds",
        "account_events",
        "account_seconds",
    )

    def __init__(self) -> None:
        self.requests = 0
        self.bytes_out = 0
        self.upstream_ms = 0
        self.refused: dict[str, int] = defaultdict(int)
        self.ws_messages = 0
        self.ws_bytes = 0
        self.ws_seconds = 0
        self.account_events = 0
        self.account_seconds = 0

    def add(self, other: "_Counts") -> None:
        self.requests += other.requests
        self.bytes_out += other.bytes_out
        self.upstream_ms += other.upstream_ms
        for reason, n in other.refused.items():
            self.refused[reason] += n
        self.ws_messages += other.ws_messages
        self.ws_bytes += other.ws_bytes
        self.ws_seconds += other.ws_seconds
        self.account_events += other.account_events
        self.account_seconds += other.account_seconds


class Meter:
    def __init__(self) -> None:
        self._pending: dict[tuple[int, dt.date], _Counts] = {}

    def _counts(self, member_id: int, day: dt.date) -> _Counts:
        """The member's counts of `day` not yet flushed."""
        counts = self._pending.get((member_id, day))
        if counts is None:
            counts = self._pending[(member_id, day)] = _Counts()
        return counts

    def record(
        self,
        member_id: int,
        day: dt.date,
        *,
        refused: str | None,
        bytes_out: int,
        upstream_ms: int,
    ) -> None:
        counts = self._counts(member_id, day)
        if refused:
            counts.refused[refused] += 1
        else:
            counts.requests += 1
        counts.bytes_out += bytes_out
        counts.upstream_ms += upstream_ms

    def record_stream(
        self,
        member_id: int,
        day: dt.date,
        *,
        messages: int,
        bytes_out: int,
        seconds: int,
    ) -> None:
        """WebSocket traffic: data frames and bytes delivered, connection time."""
        counts = self._counts(member_id, day)
        counts.ws_messages += messages
        counts.ws_bytes += bytes_out
        counts.ws_seconds += seconds

    def record_accounts(
        self, member_id: int, day: dt.date, *, events: int, seconds: int
    ) -> None:
        """Account stream traffic: events delivered, connection time."""
        counts = self._counts(member_id, day)
        counts.account_events += events
        counts.account_seconds += seconds

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.flush()
            except Exception:
                log.exception("usage flush failed; counts kept for the next try")

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        try:
            await in_thread(_write)(batch)
        except Exception:
            for key, counts in batch.items():  # put them back: nothing is lost
                self._pending.setdefault(key, _Counts()).add(counts)
            raise


# The counters of UsageDay, and where _Counts keeps each.
_COLUMNS = (
    ("requests", "requests"),
    ("bytes_out", "bytes_out"),
    ("upstream_ms_total", "upstream_ms"),
    ("ws_messages", "ws_messages"),
    ("ws_bytes", "ws_bytes"),
    ("ws_connection_seconds", "ws_seconds"),
    ("account_events", "account_events"),
    ("account_connection_seconds", "account_seconds"),
)
_ROWS_PER_STATEMENT = 200  # 11 parameters a row, well under SQLite's limit


def _write(batch: dict) -> None:
    """Add the counts in one transaction: every row's counters by one upsert per 200
    rows (a round trip, not three, per member: this runs beside the gateways' event
    loop, and a flush of thousands of members must not hold it), then the refusal
    counts of the rows that have some. Rows in (member, day) order: one lock order
    for every process."""
    rows = sorted(batch.items())
    with transaction.atomic():
        for start in range(0, len(rows), _ROWS_PER_STATEMENT):
            _upsert(UsageDay, rows[start : start + _ROWS_PER_STATEMENT])
        for (member_id, day), counts in rows:
            if not counts.refused:
                continue
            row = UsageDay.objects.select_for_update().get(member_id=member_id, day=day)
            refused = dict(row.refused)
            for reason, n in counts.refused.items():
                refused[reason] = refused.get(reason, 0) + n
            UsageDay.objects.filter(pk=row.pk).update(refused=refused)


def _upsert(model, rows: list) -> None:
    connection = transaction.get_connection()
    table = connection.ops.quote_name(model._meta.db_table)
    names = ["member_id", "day", "refused", *(column for column, _ in _COLUMNS)]
    empty = model._meta.get_field("refused").get_db_prep_save({}, connection)
    values, params = [], []
    for (member_id, day), counts in rows:
        values.append("(" + ", ".join(["%s"] * len(names)) + ")")
        params += [member_id, day, empty]
        params += [getattr(counts, attr) for _, attr in _COLUMNS]
    added = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c, _ in _COLUMNS)
    # Names come from the model and _COLUMNS only; every value is a parameter.
    insert = f"INSERT INTO {table} ({', '.join(names)}) VALUES "  # noqa: S608
    update = f" ON CONFLICT (member_id, day) DO UPDATE SET {added}"
    with connection.cursor() as cursor:
        cursor.execute(insert + ", ".join(values) + update, params)
