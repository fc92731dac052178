"""The calendar of cron triggers: the interval units and when the next run falls.

The units' meaning is here (how far one unit steps); the scheduler, the project schema and the
dashboard take the unit names from :data:`INTERVAL_UNITS`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from dateutil.relativedelta import relativedelta

#: interval unit -> the step of n units
INTERVAL_UNITS: dict[str, Callable[[int], relativedelta]] = {
    "minutes": lambda n: relativedelta(minutes=n),
    "hours": lambda n: relativedelta(hours=n),
    "days": lambda n: relativedelta(days=n),
    "weeks": lambda n: relativedelta(weeks=n),
    "months": lambda n: relativedelta(months=n),
}

def next_run_after(anchor: dt.datetime, interval: int, unit: str,
                   now: dt.datetime) -> dt.datetime:
    """The first time ``anchor + k * interval`` (k ≥ 1) that is later than ``now``.

    Months are added from the anchor each time (not step by step) so that the 31st stays the
    last day of the month instead of drifting to the 28th.
    """
    if interval <= 0:
        raise ValueError("interval must be above 0")
    step = INTERVAL_UNITS[unit]
    k = 1
    if unit != "months":
        span = (anchor + step(interval)) - anchor
        if now > anchor:
            # Jump close to now in one go: a trigger of every minute down for a year must not
            # loop half a million times.
            k = max(1, int((now - anchor) / span))
    candidate = anchor + step(interval * k)
    while candidate <= now:
        k += 1
        candidate = anchor + step(interval * k)
    return candidate
