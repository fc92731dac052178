"""The pure engine: rows and known states in, changes and events out (no I/O)."""

from __future__ import annotations

import datetime as dt

import pytest

from connector.detection import auditlog, changes, rules, timed
from connector.detection.changes import Known, classify, events, fingerprint
from connector.detection.cursor import CursorState, minus
from connector.detection.rules import Rule
from connector.detection.watch import plan

FIELDS = ["email", "is_company", "name"]


def row(rid, write_date="2026-01-01 10:00:00", create_date="2026-01-01 09:00:00", **values):
    base = {"name": f"P{rid}", "email": False, "is_company": False}
    return {"id": rid, "write_date": write_date, "create_date": create_date, **base, **values}


def known_of(r):
    values = changes.values_of(r, FIELDS)
    return Known(r["write_date"], fingerprint(values), values)


def test_the_same_version_seen_twice_is_one_change():
    r = row(1, email="a@x")
    assert [c.id for c in classify([r], {}, FIELDS, None)] == [1]
    assert classify([r], {1: known_of(r)}, FIELDS, None) == []


def test_a_second_write_in_the_same_second_is_not_lost():
    first = row(1, email="a@x")
    second = row(1, email="b@x")  # same write_date string, new values
    [change] = classify([second], {1: known_of(first)}, FIELDS, None)
    assert change.old["email"] == "a@x" and change.new["email"] == "b@x"
    assert not change.created


def test_an_older_version_than_known_is_ignored():
    newer = row(1, write_date="2026-01-01 10:00:05", email="b@x")
    older = row(1, write_date="2026-01-01 10:00:00", email="a@x")
    assert classify([older], {1: known_of(newer)}, FIELDS, None) == []


def test_creation_is_told_by_create_date_against_the_horizon():
    horizon = "2026-01-01 09:30:00"
    fresh = row(1, create_date="2026-01-01 09:59:00", write_date="2026-01-01 10:00:03")
    old = row(2, create_date="2025-01-01 00:00:00")
    found = {c.id: c.created for c in classify([fresh, old], {}, FIELDS, horizon)}
    assert found == {1: True, 2: False}


def test_create_then_edit_before_the_poller_looks_is_one_creation():
    rule_create = Rule(1, "res.partner", "create")
    rule_write = Rule(2, "res.partner", "write")
    edited = row(5, create_date="2026-01-01 10:00:00", write_date="2026-01-01 10:00:02",
                 email="edited@x")
    found = classify([edited], {}, FIELDS, "2026-01-01 09:00:00")
    assert events([rule_create, rule_write], found) == {1: [5]}


def test_watched_field_unchanged_means_no_event():
    rule = Rule(1, "res.partner", "write", watched=("email",))
    before = row(1, email="a@x")
    after = row(1, write_date="2026-01-01 10:00:09", email="a@x", name="renamed")
    found = classify([after], {1: known_of(before)}, FIELDS, None)
    assert len(found) == 1 and events([rule], found) == {}
    changed = row(1, write_date="2026-01-01 10:00:09", email="b@x")
    assert events([rule], classify([changed], {1: known_of(before)}, FIELDS, None)) == {1: [1]}


def test_before_domain_is_checked_on_old_values_and_domain_on_new():
    rule = Rule(1, "res.partner", "write", watched=("email",),
                before_domain=(("email", "!=", False),), domain=(("is_company", "=", False),))
    no_email = row(1)
    with_email = row(1, write_date="2026-01-01 10:00:09", email="new@x")
    assert events([rule], classify([with_email], {1: known_of(no_email)}, FIELDS, None)) == {}
    had_email = row(1, email="old@x")
    assert events([rule], classify([with_email], {1: known_of(had_email)}, FIELDS, None)) \
        == {1: [1]}
    company = row(1, write_date="2026-01-01 10:00:09", email="new@x", is_company=True)
    assert events([rule], classify([company], {1: known_of(had_email)}, FIELDS, None)) == {}


def test_creation_counts_as_every_watched_field_changed_and_skips_before_domain():
    rule = Rule(1, "res.partner", "create_or_write", watched=("phone",),
                before_domain=(("email", "=", "never"),))
    found = classify([row(9, create_date="2026-01-01 10:00:00")], {}, FIELDS, "2026-01-01")
    assert events([rule], found) == {1: [9]}


def test_events_are_sorted_and_remote_domains_are_obeyed():
    rule = Rule(1, "res.partner", "create", domain=(("parent_id.name", "=", "X"),))
    assert not rule.local_domain
    found = classify([row(3), row(1), row(2)], {}, FIELDS, None)
    assert changes.candidates(rule, found) == [1, 2, 3]
    assert events([rule], found, {1: {3, 1}}) == {1: [1, 3]}
    assert events([Rule(2, "res.partner", "create")], found) == {2: [1, 2, 3]}


def test_batches_keep_id_order():
    assert changes.batches([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]


def test_needed_fields_and_plan():
    rule_list = [Rule(1, "m", "write", watched=("email",), domain=(("x", "=", 1),)),
                 Rule(2, "m", "unlink"), Rule(3, "m", "time", date_field="date_deadline"),
                 Rule(4, "m", "create", domain=(("parent_id.name", "=", "X"),))]
    p = plan(rule_list)
    assert p.fields == ["display_name", "email", "x"]
    assert p.change and p.unlink and p.needs_old and [r.id for r in p.timed] == [3]
    assert rules.check(Rule(5, "m", "write", before_domain=(("a.b", "=", 1),)))
    assert rules.check(Rule(6, "m", "time")) is not None
    assert rules.check(rule_list[0]) is None


def test_cursor_windows_and_state_round_trip():
    state = CursorState(fields=["a"], ready=True, high="2026-01-01 10:00:00", deep_at=100.0)
    since, deep = state.scan_since(105.0, lookback=600, recent=10, deep_every=30)
    assert (since, deep) == ("2026-01-01 09:59:50", False)
    since, deep = state.scan_since(131.0, lookback=600, recent=10, deep_every=30)
    assert (since, deep) == ("2026-01-01 09:50:00", True)
    ten = dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC).timestamp()
    state.observe("2026-01-01 09:00:00", ten + 5)
    assert state.high == "2026-01-01 10:00:00" and state.skew == -3605.0
    state.observe("2026-01-01 10:00:01", ten + 2)  # Odoo's clock is at least 1 s behind ours
    assert state.high == "2026-01-01 10:00:01" and state.skew == -1.0
    # An idle model: the window follows Odoo's (estimated) clock, not the last write.
    state.deep_at = ten + 55
    since, deep = state.scan_since(ten + 60, lookback=600, recent=10, deep_every=30)
    assert (since, deep) == ("2026-01-01 10:00:49", False)
    assert CursorState.from_json(state.to_json()) == state
    assert CursorState.from_json({"last": "x", "seen": []}) == CursorState()
    assert minus("2026-01-01 00:00:00", 0.5) == "2025-12-31 23:59:59"


@pytest.mark.parametrize("when,delay,unit,value,fires_at", [
    ("after", 1, "days", "2026-03-01", dt.datetime(2026, 3, 2)),
    ("before", 2, "hours", "2026-03-01 12:00:00", dt.datetime(2026, 3, 1, 10)),
    ("after", 1, "months", "2026-01-31", dt.datetime(2026, 2, 28)),
    ("after", 30, "minutes", "2026-03-01 12:00:00", dt.datetime(2026, 3, 1, 12, 30)),
])
def test_timed_condition_fires_once_when_the_moment_enters_the_window(when, delay, unit, value,
                                                                     fires_at):
    rule = Rule(1, "m", "time", date_field="d", delay=delay, delay_unit=unit, when=when)
    second = dt.timedelta(seconds=1)
    assert timed.action_time(rule, value) == fires_at
    windows = [(fires_at - 10 * second, fires_at - second), (fires_at - second, fires_at),
               (fires_at, fires_at + 10 * second)]
    assert [timed.due(rule, value, a, b) for a, b in windows] == [False, True, False]
    assert not timed.due(rule, False, fires_at - second, fires_at)
    # The domain sent to Odoo finds the record in the window where it is due.
    date_only = len(value) == 10
    (field, _, low), (_, _, high) = timed.window_domain(rule, fires_at - second, fires_at,
                                                        date_only)
    assert field == "d" and low <= value <= high + ("" if date_only else "~")


def test_auditlog_values_come_back_in_read_format():
    types = {"email": "char", "phone": "char", "partner_id": "many2one", "age": "integer",
             "flag": "boolean"}
    assert auditlog.convert("(5, 'Acme')", "many2one") == [5, "Acme"]
    assert auditlog.convert("123", "char") == "123"
    assert auditlog.convert("123", "integer") == 123
    assert auditlog.convert("True", "boolean") is True
    assert auditlog.convert(False, "char") is False
    lines = [  # two writes since the record was last seen: the earliest old value counts
        {"id": 18783, "log_id": [1205, "p"], "field_name": "email", "old_value": "a@example.com"},
        {"id": 18785, "log_id": [1206, "p"], "field_name": "email", "old_value": "b@example.com"},
        {"id": 18780, "log_id": [1205, "p"], "field_name": "phone", "old_value": False},
    ]
    current = {"email": "c@example.com", "phone": "123", "name": "AUDIT probe"}
    assert auditlog.old_values(current, lines, types) == {
        "email": "a@example.com", "phone": False, "name": "AUDIT probe"}
    assert auditlog.subscribed({"log_write": True, "log_unlink": False}, "write")
    assert not auditlog.subscribed({"log_write": True, "log_unlink": False}, "unlink")
    assert not auditlog.subscribed(None, "write")
