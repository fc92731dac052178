"""Change detection against the simulator: every bullet of issue 3's "What it must show" that
runs in one process (the SIGKILL test is in test_crash.py).

Tests that use the ``odoo`` fixture need no simulator control and run against a real Odoo when
``ODOO_TEST_*`` is set.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time

import pytest

from connector.detection.watch import Options
from tests.detection.conftest import (
    FakeClock,
    ids_of,
    import_triggers,
    make_poller,
    recorded,
    sim_odoo,
)
from tests.support import wait_until

PARTNER = "res.partner"


def test_late_commit_of_a_transaction_held_30s_fires(settings, sqlite_db, sim):
    clock = FakeClock()
    sim.now = clock
    odoo = sim_odoo(sim)
    import_triggers(settings, sqlite_db, odoo, [
        {"trigger_name": "ON_EMAIL", "model": PARTNER, "condition": "write",
         "watched_fields": ["email"]}])
    [held, other] = odoo.create(PARTNER, [{"name": "held"}, {"name": "other"}])
    poller = make_poller(settings, sqlite_db, now=clock, recent=5.0, deep_every=20.0)
    poller.run_once()
    txn = sim.begin_transaction()
    txn.write(PARTNER, [held], {"email": "late@x"})  # stamped now, invisible until commit
    clock.advance(30)
    odoo.write(PARTNER, [other], {"email": "early@x"})  # a later write, seen first
    poller.run_once()
    assert ids_of(sqlite_db, "ON_EMAIL") == [other]
    txn.commit()
    clock.advance(1)
    poller.run_once()  # recent window (5 s) does not reach 30 s back yet
    clock.advance(20)
    poller.run_once()  # the deep look-back scan finds it
    assert ids_of(sqlite_db, "ON_EMAIL") == [other, held]
    for _ in range(3):
        clock.advance(25)
        poller.run_once()
    assert ids_of(sqlite_db, "ON_EMAIL") == [other, held]


def test_two_writes_in_one_second_both_fire_and_overlap_is_not_doubled(settings, sqlite_db, sim):
    clock = FakeClock()  # frozen: every write below gets the same write_date second
    sim.now = clock
    odoo = sim_odoo(sim)
    import_triggers(settings, sqlite_db, odoo, [
        {"trigger_name": "ON_EMAIL", "model": PARTNER, "condition": "write",
         "watched_fields": ["email"]},
        {"trigger_name": "ON_WRITE", "model": PARTNER, "condition": "write"}])
    [pid] = odoo.create(PARTNER, [{"name": "twice"}])
    poller = make_poller(settings, sqlite_db, now=clock, deep_every=0.0)  # every scan overlaps
    poller.run_once()
    odoo.write(PARTNER, [pid], {"email": "one@x"})
    poller.run_once()
    odoo.write(PARTNER, [pid], {"email": "two@x"})  # same second as the first write
    poller.run_once()
    odoo.write(PARTNER, [pid], {"phone": "555"})  # same second, a field nobody watches
    poller.run_once()
    assert ids_of(sqlite_db, "ON_EMAIL") == [pid, pid]
    assert ids_of(sqlite_db, "ON_WRITE") == [pid, pid, pid]  # any write: a broad fingerprint
    for _ in range(3):  # the same writes seen in more overlapping windows
        poller.run_once()
    assert ids_of(sqlite_db, "ON_EMAIL") == [pid, pid]
    assert ids_of(sqlite_db, "ON_WRITE") == [pid, pid, pid]


def test_create_then_edit_before_the_poller_looks_is_one_creation(settings, sqlite_db, odoo):
    import_triggers(settings, sqlite_db, odoo, [
        {"trigger_name": "ON_NEW", "model": PARTNER, "condition": "create"},
        {"trigger_name": "ON_ANY", "model": PARTNER, "condition": "create_or_write"},
        {"trigger_name": "ON_EDIT", "model": PARTNER, "condition": "write"}])
    poller = make_poller(settings, sqlite_db)
    poller.run_once()
    [pid] = odoo.create(PARTNER, [{"name": "fresh"}])
    # The edit gets a later write_date than the creation: the simulator's clock moves on a
    # second; a real Odoo's clock is waited for.
    if odoo.sim is not None:
        ahead = dt.timedelta(seconds=1.1)
        odoo.sim.now = lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None) + ahead
    else:
        second = int(time.time())
        wait_until(lambda: time.time() >= second + 1.1, 3, "the next second on Odoo's clock")
    odoo.write(PARTNER, [pid], {"email": "edited@x"})
    poller.run_once()
    poller.run_once()
    assert sorted(recorded(sqlite_db)) == [("ON_ANY", [PARTNER, [pid]]),
                                           ("ON_NEW", [PARTNER, [pid]])]
    odoo.write(PARTNER, [pid], {"email": "again@x"})  # may share the edit's second
    poller.run_once()
    assert ids_of(sqlite_db, "ON_EDIT") == [pid] and ids_of(sqlite_db, "ON_ANY") == [pid, pid]


def test_watched_field_and_before_domain_decide_updates(settings, db, odoo):
    import_triggers(settings, db, odoo, [
        {"trigger_name": "ON_EMAIL", "model": PARTNER, "condition": "write",
         "watched_fields": ["email"]},
        {"trigger_name": "EMAIL_REPLACED", "model": PARTNER, "condition": "write",
         "watched_fields": ["email"], "before_domain": "[('email', '!=', False)]",
         "domain": "[('is_company', '=', False)]"}])
    a, b, c = odoo.create(PARTNER, [{"name": "a"}, {"name": "b", "email": "old@x"},
                                    {"name": "c", "email": "c@x", "is_company": True}])
    poller = make_poller(settings, db)
    poller.run_once()  # activation: the snapshot of every partner is taken
    odoo.write(PARTNER, [a, b, c], {"phone": "555"})  # watched field unchanged: no job
    poller.run_once()
    assert recorded(db) == []
    odoo.write(PARTNER, [a, b, c], {"email": "new@x"})
    poller.run_once()
    assert ids_of(db, "ON_EMAIL") == [a, b, c]
    # a had no email before (before domain false), c is a company (apply-on domain false).
    assert ids_of(db, "EMAIL_REPLACED") == [b]


def test_deletion_found_by_id_comparison_with_last_values(settings, sqlite_db, odoo):
    import_triggers(settings, sqlite_db, odoo, [
        {"trigger_name": "ON_DELETE", "model": PARTNER, "condition": "unlink",
         "watched_fields": ["email"], "domain": "[('is_company', '=', False)]"}])
    keep, gone, company = odoo.create(PARTNER, [
        {"name": "keep"}, {"name": "gone", "email": "gone@x"},
        {"name": "corp", "is_company": True}])
    poller = make_poller(settings, sqlite_db, deletion_interval=0.0)
    poller.run_once()
    odoo.write(PARTNER, [gone], {"email": "last@x"})
    poller.run_once()
    odoo.unlink(PARTNER, [gone, company])
    poller.run_once()
    [(name, args)] = recorded(sqlite_db)
    assert name == "ON_DELETE" and args[:2] == [PARTNER, [gone]]
    last = args[2]["deleted"][str(gone)]
    assert last["email"] == "last@x" and last["display_name"] == "gone" and last["id"] == gone
    poller.run_once()
    assert len(recorded(sqlite_db)) == 1  # reported once
    assert keep


def subscribe_auditlog(sim, model=PARTNER):
    [model_id] = sim.execute("ir.model", "search", [("model", "=", model)])
    rule = sim.execute("auditlog.rule", "create", {
        "name": "partners", "model_id": model_id, "log_type": "full", "log_create": True,
        "log_write": True, "log_unlink": True, "capture_record": True})
    rule_id = rule[0] if isinstance(rule, list) else rule
    sim.execute("auditlog.rule", "subscribe", [rule_id])


def test_deletion_and_old_values_from_auditlog(settings, sqlite_db, audit_sim):
    subscribe_auditlog(audit_sim)
    odoo = sim_odoo(audit_sim)
    import_triggers(settings, sqlite_db, odoo, [
        {"trigger_name": "ON_DELETE", "model": PARTNER, "condition": "unlink"},
        {"trigger_name": "EMAIL_REPLACED", "model": PARTNER, "condition": "write",
         "watched_fields": ["email"], "before_domain": "[('email', '!=', False)]"}])
    a, b = odoo.create(PARTNER, [{"name": "a", "email": "a@x"}, {"name": "b"}])
    poller = make_poller(settings, sqlite_db, deletion_interval=0.0)
    poller.run_once()
    with sqlite_db.session() as session:
        from sqlalchemy import select

        from connector.store.models import PollCursor
        state = json.loads(session.scalar(select(PollCursor.state_json)))
        assert state["audit"]["log_unlink"] and not state["full"]  # no full snapshot needed
    audit_sim.reset_calls()
    odoo.write(PARTNER, [a, b], {"email": "new@x"})
    poller.run_once()
    assert ids_of(sqlite_db, "EMAIL_REPLACED") == [a]  # b had no email before the write
    odoo.unlink(PARTNER, [a])
    poller.run_once()
    assert audit_sim.calls[("auditlog.log", "search_read")] >= 1
    deleted = [args for name, args in recorded(sqlite_db) if name == "ON_DELETE"]
    assert [args[1] for args in deleted] == [[a]]
    assert deleted[0][2]["deleted"][str(a)]["email"] == "new@x"
    poller.run_once()
    assert len([1 for name, _ in recorded(sqlite_db) if name == "ON_DELETE"]) == 1


def test_timed_trigger_before_and_after_a_date(settings, sqlite_db, sim):
    import datetime as dt

    from connector import lifecycle
    from connector.store.models import Job

    clock = FakeClock()
    sim.now = clock
    odoo = sim_odoo(sim)
    import_triggers(settings, sqlite_db, odoo, [
        {"trigger_name": "DAY_AFTER", "model": PARTNER, "condition": "time",
         "date_field": "date", "delay": 1, "delay_unit": "days", "when": "after"},
        {"trigger_name": "TWO_HOURS_BEFORE", "model": PARTNER, "condition": "time",
         "date_field": "date", "delay": 2, "delay_unit": "hours", "when": "before",
         "domain": "[('is_company', '=', False)]"}])
    day = (clock() + dt.timedelta(days=2)).date()
    pid, corp = odoo.create(PARTNER, [{"name": "due", "date": day.isoformat()},
                                      {"name": "corp", "date": day.isoformat(),
                                       "is_company": True}])
    poller = make_poller(settings, sqlite_db, now=clock, timed_interval=60.0)
    poller.run_once()
    midnight = dt.datetime.combine(day, dt.time())

    def run_at(moment):
        clock.value = moment
        poller.run_once()

    run_at(midnight - dt.timedelta(hours=2, minutes=1))
    assert recorded(sqlite_db) == []
    run_at(midnight - dt.timedelta(hours=1, minutes=59))
    assert ids_of(sqlite_db, "TWO_HOURS_BEFORE") == [pid]
    run_at(midnight + dt.timedelta(hours=23))
    assert ids_of(sqlite_db, "DAY_AFTER") == []
    # The DAY_AFTER job fails: the record is fired again, not skipped for ever.
    run_at(midnight + dt.timedelta(days=1, minutes=1))
    assert ids_of(sqlite_db, "DAY_AFTER") == [pid, corp]
    with sqlite_db.session() as session:
        job = session.query(Job).order_by(Job.id.desc()).first()
        lifecycle.start(session, job.id)
        lifecycle.fail(session, job.id, error="boom")
    run_at(midnight + dt.timedelta(days=1, minutes=3))
    assert ids_of(sqlite_db, "DAY_AFTER") == [pid, corp, pid, corp]
    run_at(midnight + dt.timedelta(days=3))
    assert ids_of(sqlite_db, "TWO_HOURS_BEFORE") == [pid]
    assert ids_of(sqlite_db, "DAY_AFTER") == [pid, corp, pid, corp]


def test_idle_cost_is_one_call_per_model_whatever_the_trigger_count(settings, sqlite_db, sim):
    odoo = sim_odoo(sim)
    triggers = [{"trigger_name": f"T{i}", "model": PARTNER, "condition": "write",
                 "watched_fields": ["email"]} for i in range(10)]
    triggers += [{"trigger_name": "ACT", "model": "mail.activity", "condition": "create"}]
    import_triggers(settings, sqlite_db, odoo, triggers)
    poller = make_poller(settings, sqlite_db, deep_every=0.0)  # even deep scans cost one call
    poller.run_once()
    sim.reset_calls()
    for _ in range(5):
        poller.run_once()
    assert sim.calls == {(PARTNER, "search_read"): 5, ("mail.activity", "search_read"): 5}


@pytest.mark.slow
def test_odoo_down_for_several_polls_loses_nothing_and_logs_once(settings, sqlite_db, sim, caplog):
    odoo = sim_odoo(sim)
    import_triggers(settings, sqlite_db, odoo, [
        {"trigger_name": "ON_ANY", "model": PARTNER, "condition": "create_or_write"}])
    poller = make_poller(settings, sqlite_db, interval=0.1, backoff_cap=1.0)
    poller.run_once()
    caplog.set_level(logging.WARNING, logger="syncstudio.poller")
    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop,), daemon=True)
    thread.start()
    try:
        before = odoo.create(PARTNER, [{"name": "before"}])
        wait_until(lambda: ids_of(sqlite_db, "ON_ANY") == before, 10, "the creation's job")
        sim.set_down(True)
        during = sim.execute(PARTNER, "create", [{"name": f"during {i}"} for i in range(3)])
        sim.execute(PARTNER, "write", before, {"email": "changed while down"})
        # Down for several polls, each after a longer back-off (up to the 1 s cap).
        wait_until(lambda: poller.failures >= 6, 30, "six failed polls", interval=0.1)
        assert poller.failures >= 3
        sim.set_down(False)
        after = odoo.create(PARTNER, [{"name": "after"}])
        wait_until(lambda: len(ids_of(sqlite_db, "ON_ANY")) >= 6, 10, "the six jobs")
    finally:
        stop.set()
        thread.join(timeout=10)
    assert sorted(ids_of(sqlite_db, "ON_ANY")) == sorted(before * 2 + during + after)
    lines = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(lines) == 1


def test_two_pollers_never_poll_one_model_at_once(settings, db, sim):
    odoo = sim_odoo(sim)
    import_triggers(settings, db, odoo, [
        {"trigger_name": "ON_NEW", "model": PARTNER, "condition": "create"}])
    first = make_poller(settings, db, owner="first", lease_ttl=30.0)
    second = make_poller(settings, db, owner="second", lease_ttl=30.0)
    assert first.run_once().models == 1
    report = second.run_once()
    assert (report.models, report.skipped) == (0, 1)
    ids = odoo.create(PARTNER, [{"name": "x"}, {"name": "y"}])
    first.run_once()
    second.run_once()
    assert ids_of(db, "ON_NEW") == sorted(ids)
    first.release()
    assert second.run_once().models == 1


def test_default_options_are_sane():
    opts = Options()
    assert opts.page_size >= 500 and opts.lookback >= 60 and opts.recent < opts.lookback


def test_build_snapshots_reports_progress_and_respects_the_lease(settings, sqlite_db, sim):
    from connector.connections import ClientPool
    from connector.detection.poller import build_snapshots
    from connector.store.crypto import SecretBox
    from connector.store.models import RecordSnapshot, Trigger

    odoo = sim_odoo(sim)
    import_triggers(settings, sqlite_db, odoo, [
        {"trigger_name": "ON_EMAIL", "model": PARTNER, "condition": "write",
         "watched_fields": ["email"]}])
    odoo.create(PARTNER, [{"name": f"p{i}", "email": f"p{i}@x"} for i in range(2500)])
    total = sim.execute(PARTNER, "search_count", [], context={"active_test": False})
    pool = ClientPool(SecretBox.from_settings(settings))
    with sqlite_db.session() as session:
        trigger = session.query(Trigger).one()
        session.expunge(trigger)
    seen: list[tuple[int, int]] = []
    assert build_snapshots(sqlite_db, pool, trigger, progress=lambda d, t: seen.append((d, t)),
                           page_size=1000)
    assert seen[0] == (0, total) and seen[-1] == (total, total) and len(seen) >= 3
    with sqlite_db.session() as session:
        assert session.query(RecordSnapshot).count() == total
    busy = make_poller(settings, sqlite_db, owner="running", lease_ttl=30.0)
    busy.run_once()  # a running poller holds the model's lease now
    assert not build_snapshots(sqlite_db, pool, trigger)


def test_a_name_compared_with_a_many2one_is_left_to_odoo(settings, sqlite_db, odoo):
    [acme] = odoo.create(PARTNER, [{"name": "Acme Corp", "is_company": True}])
    import_triggers(settings, sqlite_db, odoo, [
        {"trigger_name": "ACME_PEOPLE", "model": PARTNER, "condition": "create",
         "domain": "[('parent_id', '=', 'Acme Corp')]"}])
    poller = make_poller(settings, sqlite_db)
    poller.run_once()
    alice, bob = odoo.create(PARTNER, [{"name": "alice", "parent_id": acme}, {"name": "bob"}])
    assert poller.run_once().jobs == 1
    assert ids_of(sqlite_db, "ACME_PEOPLE") == [alice]
    assert bob
