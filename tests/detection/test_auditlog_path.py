"""Deletions found through OCA auditlog: when they are seen, which values they carry, and which
deletions count, with the rule's ``capture_record`` on and off.

The simulator's auditlog writes the same rows as OCA auditlog 17.0: an unlink log has lines only
when the rule captures the record.
"""

from __future__ import annotations

import logging

import pytest

from tests.detection.conftest import (
    FakeClock,
    ids_of,
    import_triggers,
    make_poller,
    recorded,
    sim_odoo,
)

PARTNER = "res.partner"
PEOPLE_ONLY = "[('is_company', '=', False)]"


def subscribe(sim, *, capture_record: bool) -> None:
    """An auditlog rule on partners that logs unlinks (and writes), subscribed."""
    [model_id] = sim.execute("ir.model", "search", [("model", "=", PARTNER)])
    created = sim.execute("auditlog.rule", "create", {
        "name": "partners", "model_id": model_id, "log_type": "full", "log_create": True,
        "log_write": True, "log_unlink": True, "capture_record": capture_record})
    sim.execute("auditlog.rule", "subscribe",
                [created[0] if isinstance(created, list) else created])


def deleted_values(db, trigger_name: str) -> dict[int, dict]:
    """The ``deleted`` values of every job of ``trigger_name``, by record id."""
    values: dict[int, dict] = {}
    for name, args in recorded(db):
        if name == trigger_name:
            values.update({int(rid): vals for rid, vals in args[2]["deleted"].items()})
    return values


def test_auditlog_deletions_are_seen_in_the_normal_cycle(settings, sqlite_db, audit_sim):
    clock = FakeClock()
    audit_sim.now = clock
    subscribe(audit_sim, capture_record=True)
    odoo = sim_odoo(audit_sim)
    import_triggers(settings, sqlite_db, odoo, [
        {"trigger_name": "ON_DELETE", "model": PARTNER, "condition": "unlink"}])
    [pid] = odoo.create(PARTNER, [{"name": "soon gone"}])
    poller = make_poller(settings, sqlite_db, now=clock)  # the default deletion interval (60 s)
    poller.run_once()
    clock.advance(1)
    odoo.unlink(PARTNER, [pid])
    clock.advance(1)
    poller.run_once()
    assert ids_of(sqlite_db, "ON_DELETE") == [pid]
    for _ in range(3):
        clock.advance(1)
        poller.run_once()
    assert ids_of(sqlite_db, "ON_DELETE") == [pid]  # once


@pytest.mark.parametrize("capture_record", [True, False])
def test_a_deleted_record_keeps_its_values_and_the_domain_holds(settings, sqlite_db, audit_sim,
                                                                capture_record):
    clock = FakeClock()
    audit_sim.now = clock
    subscribe(audit_sim, capture_record=capture_record)
    odoo = sim_odoo(audit_sim)
    import_triggers(settings, sqlite_db, odoo, [
        {"trigger_name": "PERSON_GONE", "model": PARTNER, "condition": "unlink",
         "watched_fields": ["email"], "domain": PEOPLE_ONLY}])
    person, company = odoo.create(PARTNER, [
        {"name": "Ann", "email": "ann@x"}, {"name": "Corp", "is_company": True}])
    poller = make_poller(settings, sqlite_db, now=clock)
    poller.run_once()
    clock.advance(1)
    odoo.unlink(PARTNER, [person, company])
    clock.advance(1)
    poller.run_once()
    assert ids_of(sqlite_db, "PERSON_GONE") == [person]  # the company is outside the domain
    last = deleted_values(sqlite_db, "PERSON_GONE")[person]
    assert last["email"] == "ann@x" and last["display_name"] == "Ann" and last["id"] == person


def test_a_deleted_record_with_unknown_values_is_not_delivered_past_the_domain(
        settings, sqlite_db, audit_sim, caplog):
    clock = FakeClock()
    audit_sim.now = clock
    subscribe(audit_sim, capture_record=False)
    odoo = sim_odoo(audit_sim)
    import_triggers(settings, sqlite_db, odoo, [
        {"trigger_name": "PERSON_GONE", "model": PARTNER, "condition": "unlink",
         "domain": PEOPLE_ONLY},
        {"trigger_name": "ANY_GONE", "model": PARTNER, "condition": "unlink"}])
    poller = make_poller(settings, sqlite_db, now=clock)
    poller.run_once()
    clock.advance(1)
    # Created and deleted between two cycles: the poller never saw its values.
    [flash] = odoo.create(PARTNER, [{"name": "Flash", "is_company": True}])
    odoo.unlink(PARTNER, [flash])
    clock.advance(1)
    with caplog.at_level(logging.WARNING, logger="syncstudio.poller"):
        poller.run_once()
    assert ids_of(sqlite_db, "PERSON_GONE") == []
    assert ids_of(sqlite_db, "ANY_GONE") == [flash]  # no domain: nothing to judge
    skipped = [r.getMessage() for r in caplog.records if "PERSON_GONE" in r.getMessage()]
    assert skipped and str(flash) in skipped[0] and "capture_record" in skipped[0]


def test_deletions_from_before_the_trigger_existed_are_not_delivered(settings, sqlite_db,
                                                                     audit_sim):
    clock = FakeClock()
    audit_sim.now = clock
    subscribe(audit_sim, capture_record=True)
    odoo = sim_odoo(audit_sim)
    old, kept = odoo.create(PARTNER, [{"name": "deleted long ago"}, {"name": "kept"}])
    odoo.unlink(PARTNER, [old])
    clock.advance(30)  # well inside the look-back window
    import_triggers(settings, sqlite_db, odoo, [
        {"trigger_name": "ON_DELETE", "model": PARTNER, "condition": "unlink"}])
    poller = make_poller(settings, sqlite_db, now=clock)
    for _ in range(3):
        poller.run_once()
        clock.advance(1)
    assert ids_of(sqlite_db, "ON_DELETE") == []
    odoo.unlink(PARTNER, [kept])
    clock.advance(1)
    poller.run_once()
    assert ids_of(sqlite_db, "ON_DELETE") == [kept]


@pytest.fixture
def real_rule(odoo):
    """A subscribed res.partner rule without capture_record on the real Odoo under test."""
    if odoo.sim is not None:
        pytest.skip("needs a real Odoo with OCA auditlog (ODOO_TEST_*); the simulator's "
                    "auditlog is covered above")
    client = odoo.client
    if not client.search("ir.model", [("model", "=", "auditlog.rule")]):
        pytest.skip("the OCA auditlog module is not installed on this Odoo")
    [model_id] = client.search("ir.model", [("model", "=", PARTNER)])
    if client.search("auditlog.rule", [("model_id", "=", model_id)]):
        pytest.skip("res.partner already has an auditlog rule this test must not change")
    rule = client.execute_kw("auditlog.rule", "create", [{
        "name": "capture off", "model_id": model_id, "log_type": "full", "log_create": True,
        "log_write": True, "log_unlink": True, "capture_record": False}])
    client.execute_kw("auditlog.rule", "subscribe", [[rule]])
    yield rule
    client.execute_kw("auditlog.rule", "unsubscribe", [[rule]])
    client.execute_kw("auditlog.rule", "unlink", [[rule]])


def test_capture_record_off_on_a_real_odoo(settings, sqlite_db, odoo, real_rule):
    import_triggers(settings, sqlite_db, odoo, [
        {"trigger_name": "PERSON_GONE", "model": PARTNER, "condition": "unlink",
         "domain": PEOPLE_ONLY}])
    person, company = odoo.create(PARTNER, [
        {"name": "Real Ann", "email": "ann@x"}, {"name": "Real Corp", "is_company": True}])
    poller = make_poller(settings, sqlite_db)
    poller.run_once()
    odoo.unlink(PARTNER, [person, company])
    poller.run_once()
    assert ids_of(sqlite_db, "PERSON_GONE") == [person]
    last = deleted_values(sqlite_db, "PERSON_GONE")[person]
    assert last["display_name"] == "Real Ann" and last["is_company"] is False
