"""Time units and day numbering. Times in `sandbox.synth` are Unix seconds (UTC) unless
a name says otherwise; session dates are `date.toordinal()` numbers."""

import datetime as dt

DAY = 86_400
YEAR = 365.25 * DAY
EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
# The Monday on or before the epoch, which week bars are aligned to.
MONDAY_ORDINAL = EPOCH_ORDINAL - 3


def day_epoch(day: dt.date) -> int:
    """00:00 UTC of a date, in Unix seconds."""
    return (day.toordinal() - EPOCH_ORDINAL) * DAY
