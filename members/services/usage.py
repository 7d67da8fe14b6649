"""Monthly usage: UsageDay rows (written by the gateways' metering, one per member per
UTC day) rolled up into UsageMonth rows.

A roll-up recomputes a whole month from its days with one aggregate query and upserts
the result, so it is idempotent: running it twice, or again after late day rows arrived,
leaves exactly the rows a single run over the final data would.
"""

import datetime as dt

from django.db import connection
from django.db.models import BigIntegerField, Sum
from django.db.models.expressions import RawSQL

from members.models import UsageDay, UsageMonth
from orgportal import clock

# Rows upserted per statement: bounded memory and statement size at 100k members.
UPSERT_BATCH = 1000
# Until this day of a month the previous month is rolled up again: the gateways flush
# their counts every few seconds, so the last day's rows may land after midnight.
PREVIOUS_MONTH_UNTIL_DAY = 2


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def month_after(first: dt.date) -> dt.date:
    return (first + dt.timedelta(days=32)).replace(day=1)


def usage_rollup(*, day: dt.date | None = None) -> int:
    """Roll up the month of `day` (default: yesterday, UTC) and, on the 1st and 2nd of a
    month, the month before it too. Returns the UsageMonth rows written."""
    if day is None:
        day = (clock.now().astimezone(dt.UTC) - dt.timedelta(days=1)).date()
    months = [month_start(day)]
    if day.day <= PREVIOUS_MONTH_UNTIL_DAY:
        months.insert(0, month_start(months[0] - dt.timedelta(days=1)))
    return sum(usage_month_rollup(month=month) for month in months)


def usage_month_rollup(*, month: dt.date) -> int:
    """Recompute every member's UsageMonth row of `month` (its first day) from the
    month's UsageDay rows. Returns the rows written."""
    first = month_start(month)
    now = clock.now()
    totals = (
        UsageDay.objects.filter(day__gte=first, day__lt=month_after(first))
        .values("member_id")
        .annotate(
            requests_sum=Sum("requests"),
            bytes_sum=Sum("bytes_out"),
            upstream_ms_sum=Sum("upstream_ms_total"),
            refused_sum=Sum(_refused_count()),
        )
        .order_by("member_id")
    )
    written = 0
    batch: list[UsageMonth] = []
    for row in totals.iterator(chunk_size=UPSERT_BATCH):
        batch.append(
            UsageMonth(
                member_id=row["member_id"],
                month=first,
                requests=row["requests_sum"] or 0,
                bytes_out=row["bytes_sum"] or 0,
                refused=row["refused_sum"] or 0,
                upstream_ms_total=row["upstream_ms_sum"] or 0,
                rolled_up_at=now,
            )
        )
        if len(batch) >= UPSERT_BATCH:
            written += _upsert(batch)
            batch = []
    written += _upsert(batch)
    return written


def _upsert(rows: list[UsageMonth]) -> int:
    if not rows:
        return 0
    UsageMonth.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["member", "month"],
        update_fields=[
            "requests",
            "bytes_out",
            "refused",
            "upstream_ms_total",
            "rolled_up_at",
        ],
    )
    return len(rows)


def _refused_count() -> RawSQL:
    """One day row's refusals: the sum of the values of its `refused` JSON object
    (reason → count). The reasons are the gateway's error codes, an open set, so the
    values are summed in SQL rather than picked by known keys."""
    # Only quoted identifiers of our own model go into this SQL; no input does.
    column = (
        f"{connection.ops.quote_name(UsageDay._meta.db_table)}."
        f"{connection.ops.quote_name('refused')}"
    )
    if connection.vendor == "postgresql":
        each, value = f"jsonb_each_text({column})", "(r.value)::bigint"
    else:  # SQLite (JSON1 is built in)
        each, value = f"json_each({column})", "r.value"
    sql = f"(SELECT COALESCE(SUM({value}), 0) FROM {each} AS r)"  # noqa: S608
    return RawSQL(sql, [], output_field=BigIntegerField())
