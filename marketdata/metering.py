"""Usage per member per UTC day, counted in memory on the hot path and added to the
database every few seconds (and at shutdown) in one short transaction."""

import asyncio
import datetime as dt
import logging
from collections import defaultdict

from django.db import transaction
from django.db.models import F

from marketdata.db import in_thread

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
    )

    def __init__(self) -> None:
        self.requests = 0
        self.bytes_out = 0
        self.upstream_ms = 0
        self.refused: dict[str, int] = defaultdict(int)
        self.ws_messages = 0
        self.ws_bytes = 0
        self.ws_seconds = 0

    def add(self, other: "_Counts") -> None:
        self.requests += other.requests
        self.bytes_out += other.bytes_out
        self.upstream_ms += other.upstream_ms
        for reason, n in other.refused.items():
            self.refused[reason] += n
        self.ws_messages += other.ws_messages
        self.ws_bytes += other.ws_bytes
        self.ws_seconds += other.ws_seconds


class Meter:
    def __init__(self) -> None:
        self._pending: dict[tuple[int, dt.date], _Counts] = {}

    def record(
        self,
        member_id: int,
        day: dt.date,
        *,
        refused: str | None,
        bytes_out: int,
        upstream_ms: int,
    ) -> None:
        counts = self._pending.get((member_id, day))
        if counts is None:
            counts = self._pending[(member_id, day)] = _Counts()
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
        counts = self._pending.get((member_id, day))
        if counts is None:
            counts = self._pending[(member_id, day)] = _Counts()
        counts.ws_messages += messages
        counts.ws_bytes += bytes_out
        counts.ws_seconds += seconds

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


def _write(batch: dict) -> None:
    from members.models import UsageDay

    with transaction.atomic():
        for (member_id, day), counts in sorted(batch.items()):
            row, _ = UsageDay.objects.select_for_update().get_or_create(
                member_id=member_id, day=day
            )
            refused = dict(row.refused)
            for reason, n in counts.refused.items():
                refused[reason] = refused.get(reason, 0) + n
            UsageDay.objects.filter(pk=row.pk).update(
                requests=F("requests") + counts.requests,
                bytes_out=F("bytes_out") + counts.bytes_out,
                upstream_ms_total=F("upstream_ms_total") + counts.upstream_ms,
                refused=refused,
                ws_messages=F("ws_messages") + counts.ws_messages,
                ws_bytes=F("ws_bytes") + counts.ws_bytes,
                ws_connection_seconds=F("ws_connection_seconds") + counts.ws_seconds,
            )
