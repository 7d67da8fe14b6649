"""The moment tests freeze the clock at."""

import datetime as dt

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
