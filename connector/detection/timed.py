"""Timed conditions: which records have ``date_field ± delay`` inside ``(last_run, now]``.

Month delays use calendar arithmetic (``relativedelta``), which cannot be inverted exactly (31 Jan
+ 1 month = 28 Feb = 28 Jan + 1 month), so the domain sent to Odoo is widened by a few days and
:func:`due` decides each record exactly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from dateutil.relativedelta import relativedelta

from connector.detection.cursor import format_odoo, parse_odoo
from connector.detection.rules import Rule

UNITS = {"minutes": "minutes", "hours": "hours", "days": "days", "months": "months"}
MONTH_SLACK = dt.timedelta(days=4)


def offset(rule: Rule) -> relativedelta:
    """The signed delay of ``rule``: after = +delay, before = -delay."""
    unit = UNITS.get(rule.delay_unit or "minutes")
    if unit is None:
        raise ValueError(f"unknown delay unit {rule.delay_unit!r}")
    # Typed as Any so mypy does not match the str keys against dt1/dt2 (dates).
    delta_kwargs: dict[str, Any] = {unit: int(rule.delay or 0)}
    delta = relativedelta(**delta_kwargs)
    return -delta if rule.when == "before" else delta


def action_time(rule: Rule, value: Any) -> dt.datetime | None:
    """When the rule fires for a record whose date field holds ``value`` (None: never)."""
    if not value:
        return None
    return parse_odoo(str(value)) + offset(rule)


def due(rule: Rule, value: Any, last_run: dt.datetime, now: dt.datetime) -> bool:
    """Whether ``date ± delay`` falls in ``(last_run, now]``."""
    moment = action_time(rule, value)
    return moment is not None and last_run < moment <= now


def window_domain(rule: Rule, last_run: dt.datetime, now: dt.datetime,
                  date_only: bool = False) -> list[Any]:
    """A domain on the date field that finds every due record (and, for months, a few more).

    ``date_only``: the field is a date, compared as whole days (a date is due at its midnight).
    """
    assert rule.date_field
    shift = offset(rule)
    start, end = last_run - shift, now - shift
    if shift.months:
        start, end = start - MONTH_SLACK, end + MONTH_SLACK
    if date_only:
        return [(rule.date_field, ">=", start.strftime("%Y-%m-%d")),
                (rule.date_field, "<=", end.strftime("%Y-%m-%d"))]
    # One second of slack each side: Odoo may keep sub-seconds that RPC does not show.
    return [(rule.date_field, ">=", format_odoo(start - dt.timedelta(seconds=1))),
            (rule.date_field, "<=", format_odoo(end + dt.timedelta(seconds=1)))]


def due_ids(rule: Rule, rows: Iterable[Mapping[str, Any]], last_run: dt.datetime,
            now: dt.datetime) -> list[int]:
    """Sorted ids of the rows due in ``(last_run, now]``."""
    assert rule.date_field
    return sorted(int(row["id"]) for row in rows
                  if due(rule, row.get(rule.date_field), last_run, now))
