"""write_date/create_date facts measured on a real Odoo 17 (transaction time, whole seconds
over RPC)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

STAMP_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def _dates(target, ids):
    rows = target.execute_kw("res.partner", "read", [ids, ["write_date", "create_date"]])
    return {row["id"]: (row["write_date"], row["create_date"]) for row in rows}


def test_dates_are_naive_utc_whole_seconds(target, marker, cleanup):
    now = datetime.now(UTC).replace(tzinfo=None)
    pid = target.execute_kw("res.partner", "create", [{"name": marker}])
    cleanup("res.partner", pid)
    write_date, create_date = _dates(target, [pid])[pid]
    assert STAMP_RE.match(write_date) and STAMP_RE.match(create_date)
    assert write_date == create_date
    # naive UTC: close to the local machine's UTC clock (both run on the same host in CI)
    assert abs(datetime.strptime(write_date, "%Y-%m-%d %H:%M:%S") - now) < timedelta(
        minutes=10)


def test_one_call_gives_all_its_records_one_write_date(target, marker, cleanup):
    ids = target.execute_kw("res.partner", "create",
                            [[{"name": f"{marker} {i}"} for i in range(20)]])
    cleanup("res.partner", ids)
    assert len(set(_dates(target, ids).values())) == 1
    target.execute_kw("res.partner", "write", [ids, {"comment": "x"}])
    assert len({write for write, _create in _dates(target, ids).values()}) == 1


def test_greater_than_the_value_read_still_matches_the_record(target, marker, cleanup):
    pid = target.execute_kw("res.partner", "create", [{"name": marker}])
    cleanup("res.partner", pid)
    write_date, create_date = _dates(target, [pid])[pid]
    # The database keeps microseconds the RPC answer dropped.
    assert target.execute_kw("res.partner", "search",
                             [[("id", "=", pid), ("write_date", ">", write_date)]]) == [pid]
    assert target.execute_kw("res.partner", "search",
                             [[("id", "=", pid), ("create_date", ">", create_date)]]) == [pid]
    assert target.execute_kw("res.partner", "search",
                             [[("id", "=", pid), ("write_date", "=", write_date)]]) == []
    assert target.execute_kw("res.partner", "search",
                             [[("id", "=", pid), ("write_date", ">=", write_date)]]) == [pid]
    later = (datetime.strptime(write_date, "%Y-%m-%d %H:%M:%S") + timedelta(seconds=1))
    assert target.execute_kw("res.partner", "search", [[
        ("id", "=", pid), ("write_date", "<", later.strftime("%Y-%m-%d %H:%M:%S"))]]) == [pid]


def test_a_write_moves_write_date_not_create_date(target, marker, cleanup, sim):
    clock = [datetime(2030, 1, 2, 3, 4, 5, 678000)]
    sim.now = lambda: clock[0]
    pid = target.execute_kw("res.partner", "create", [{"name": marker}])
    cleanup("res.partner", pid)
    clock[0] += timedelta(minutes=5)
    target.execute_kw("res.partner", "write", [[pid], {"email": "a@example.com"}])
    assert _dates(target, [pid])[pid] == ("2030-01-02 03:09:05", "2030-01-02 03:04:05")


def test_write_date_is_the_transaction_start(target, marker, cleanup, sim):
    # The clock is read when the call starts; a slow call keeps its start time.
    ticks = iter([datetime(2031, 5, 6, 7, 8, 9, 100), datetime(2031, 5, 6, 7, 8, 30, 100)])
    sim.now = lambda: next(ticks)
    ids = target.execute_kw("res.partner", "create", [[{"name": marker}, {"name": marker}]])
    sim.now = None
    cleanup("res.partner", ids)
    assert set(_dates(target, ids).values()) == {("2031-05-06 07:08:09", "2031-05-06 07:08:09")}
