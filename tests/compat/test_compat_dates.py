"""Dates and times as task code handles them: Odoo's naive UTC datetimes, timedelta arithmetic,
dateutil, time zones and the server formats."""

from __future__ import annotations

import pytest

NOT_MERGED = "issue 13: C methods that import lazily (strftime/strptime) not merged yet"

# (body of handle_button, expected return value)
VALUES = [
    ("d = datetime.date(2024, 2, 28) + datetime.timedelta(days=2)\nreturn str(d)",
     "2024-03-01"),
    ("return str(datetime.datetime(2024, 1, 1, 10, 0) - datetime.timedelta(hours=12))",
     "2023-12-31 22:00:00"),
    ("delta = datetime.datetime(2024, 1, 2) - datetime.datetime(2024, 1, 1, 6)\n"
     "return delta.total_seconds()", 64800.0),
    ("return datetime.datetime(2024, 5, 17, 9, 30).isoformat()", "2024-05-17T09:30:00"),
    ("return datetime.datetime(2024, 5, 17, 9, 30).isoformat(' ')", "2024-05-17 09:30:00"),
    ("return str(datetime.datetime.fromisoformat('2024-05-17 09:30:00').date())",
     "2024-05-17"),
    ("return datetime.date(2024, 5, 17).weekday()", 4),
    ("return datetime.date(2024, 5, 17).isocalendar()[1]", 20),
    ("d = datetime.date(2024, 5, 17)\nreturn [d.year, d.month, d.day]", [2024, 5, 17]),
    ("return '%04d-%02d-%02d' % (2024, 5, 7)", "2024-05-07"),
    ("now = datetime.datetime.now()\nreturn isinstance(now, datetime.datetime)", True),
    ("return datetime.datetime.utcnow().tzinfo is None", True),
    ("return datetime.datetime.combine(datetime.date(2024, 1, 2), datetime.time(8, 15))"
     ".isoformat()", "2024-01-02T08:15:00"),
    ("return str(datetime.datetime(2024, 1, 31) + dateutil.relativedelta.relativedelta("
     "months=1))", "2024-02-29 00:00:00"),
    ("rd = dateutil.relativedelta.relativedelta\n"
     "return str(datetime.date(2024, 5, 17) + rd(weekday=dateutil.relativedelta.MO(+1)))",
     "2024-05-20"),
    ("return dateutil.parser.parse('2024-05-17T09:30:00Z').isoformat()",
     "2024-05-17T09:30:00+00:00"),
    ("return str(dateutil.parser.isoparse('2024-05-17'))", "2024-05-17 00:00:00"),
    ("try:\n    dateutil.parser.parse('not a date')\nexcept dateutil.parser.ParserError:\n"
     "    return 'refused'", "refused"),
    ("r = dateutil.rrule.rrule(dateutil.rrule.WEEKLY, count=3,"
     " dtstart=datetime.datetime(2024, 1, 1))\nreturn [str(d.date()) for d in r]",
     ["2024-01-01", "2024-01-08", "2024-01-15"]),
    ("local = datetime.datetime(2024, 7, 1, 12, 0).replace(tzinfo=timezone('Europe/Brussels'))\n"
     "return str(local.astimezone(datetime.timezone.utc).replace(tzinfo=None))",
     "2024-07-01 10:00:00"),
    ("utc = datetime.datetime(2024, 1, 1, 12, 0, tzinfo=dateutil.tz.UTC)\n"
     "return utc.astimezone(dateutil.tz.gettz('America/New_York')).hour", 7),
    ("return datetime.datetime(2024, 1, 1, tzinfo=dateutil.tz.tzoffset(None, 3600))"
     ".utcoffset().total_seconds()", 3600.0),
    ("return time.strftime('%Y', time.gmtime(0))", "1970"),
    ("return time.mktime(time.localtime(100)) == 100", True),
    ("start = time.monotonic()\nreturn time.monotonic() >= start", True),
    ("return time.time() > 1700000000 and time.time_ns() > 0", True),
    ("return time.perf_counter() > 0", True),
    ("return isinstance(time.gmtime(0), time.struct_time), isinstance(time.timezone, int)",
     [True, True]),
    ("return DEFAULT_SERVER_DATETIME_FORMAT, DEFAULT_SERVER_DATE_FORMAT",
     ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]),
    ("return [datetime.MINYEAR, datetime.MAXYEAR]", [1, 9999]),
    ("return isinstance(datetime.timezone.utc, datetime.tzinfo)", True),
    ("days = [datetime.date(2024, 1, 1) + datetime.timedelta(days=i) for i in range(7)]\n"
     "return [d.day for d in days if d.weekday() < 5]", [1, 2, 3, 4, 5]),
    ("dates = [datetime.date(2024, 3, 1), datetime.date(2023, 12, 1), datetime.date(2024, 1, 5)]\n"
     "return str(max(dates)), str(min(dates))", ["2024-03-01", "2023-12-01"]),
    ("sleep_start = time.monotonic()\ntime.sleep(0.01)\nreturn time.monotonic() > sleep_start",
     True),
]


@pytest.mark.parametrize(("body", "expected"), VALUES, ids=[str(i) for i in range(len(VALUES))])
def test_date_snippet(compat, body, expected):
    assert compat.value(body) == expected


def test_odoo_datetimes_are_naive_utc(compat):
    partner = compat.partner()
    value = compat.value(f"""
        p = env["res.partner"].browse({partner})
        return [type2str(p.write_date), p.write_date.tzinfo is None,
                (datetime.datetime.utcnow() - p.write_date).total_seconds() < 3600]
    """)
    assert value == ["<class 'datetime.datetime'>", True, True]


def test_a_datetime_written_to_odoo_comes_back(compat, odoo):
    partner = compat.partner()
    compat.value(f"""
        env["res.partner"].browse({partner}).write({{"date": datetime.date(2024, 5, 17)}})
    """)
    assert odoo.read("res.partner", partner, ["date"])["date"] == "2024-05-17"


def test_search_by_write_date(compat):
    partner = compat.partner()
    found = compat.value(f"""
        since = datetime.datetime.utcnow() - datetime.timedelta(hours=1)
        return env["res.partner"].search([("write_date", ">=", since),
                                          ("id", "=", {partner})]).ids
    """)
    assert found == [partner]


# The Odoo developer's everyday format calls: they must behave as in Python.
STRFTIME = [
    ("return datetime.datetime(2024, 5, 17, 9, 30).strftime(DEFAULT_SERVER_DATETIME_FORMAT)",
     "2024-05-17 09:30:00"),
    ("return datetime.date(2024, 5, 17).strftime('%d/%m/%Y')", "17/05/2024"),
    ("return datetime.date.today() == datetime.datetime.now().date()", True),
    ("t = time.strptime('2024-05-17', '%Y-%m-%d')\nreturn [t.tm_year, t.tm_yday]",
     [2024, 138]),
    ("return datetime.datetime(2024, 5, 17).strftime('%A %B')", "Friday May"),
    ("return f'{datetime.date(2024, 5, 17):%Y%m%d}'", "20240517"),
]


@pytest.mark.parametrize(("body", "expected"), STRFTIME, ids=[str(i) for i in range(len(STRFTIME))])
def test_strftime_snippet(compat, body, expected):
    assert compat.value(body) == expected


def test_datetime_strptime(compat):
    assert compat.value("return datetime.datetime.strptime('2024-05-17 09:30:00', "
                        "DEFAULT_SERVER_DATETIME_FORMAT).isoformat()") == "2024-05-17T09:30:00"

