"""One poller, many connections: each one's trouble stays its own.

A dead connection, a wrong password and triggers on an unknown model and an unknown field sit
next to two healthy projects. The healthy ones are polled once per cycle and see every change in
the cycle after it (counted with the simulators' call counters, not wall time); the broken
triggers show the error state with the reason, and recover by themselves once fixed.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import select, update

from connector.detection import health
from connector.store.crypto import SecretBox
from connector.store.models import OdooConnection, Trigger

from .conftest import Odoo, import_triggers, make_poller, sim_odoo, simulator_class

PARTNER = "res.partner"


@pytest.fixture
def sim_b() -> Any:
    simulator = simulator_class()(database="odootest", demo=True, login_cost=0)
    simulator.start(host="127.0.0.1", port=0)
    yield simulator
    simulator.stop()


def dead_url() -> str:
    """The URL of a simulator that was started and stopped (connection refused)."""
    gone = simulator_class()(database="odootest", demo=False, login_cost=0)
    gone.start(host="127.0.0.1", port=0)
    url = gone.url
    gone.stop()
    return url


def states(db: Any) -> dict[str, tuple[str | None, str | None]]:
    with db.session() as session:
        return {t.trigger_name: (t.poll_state, t.poll_error)
                for t in session.scalars(select(Trigger))}


def test_trouble_of_one_connection_or_trigger_stays_its_own(settings, sqlite_db, sim, sim_b):
    odoo_a, odoo_b = sim_odoo(sim), sim_odoo(sim_b)
    import_triggers(settings, sqlite_db, odoo_a, [
        {"trigger_name": "A_NEW", "model": PARTNER, "condition": "create"}], name="Healthy A")
    import_triggers(settings, sqlite_db, odoo_b, [
        {"trigger_name": "B_NEW", "model": PARTNER, "condition": "create"}], name="Healthy B")
    import_triggers(settings, sqlite_db, Odoo(dead_url(), "odootest", "admin", "admin"), [
        {"trigger_name": "DEAD", "model": PARTNER, "condition": "create"}], name="Dead")
    sim.add_user("bob", "right")
    import_triggers(settings, sqlite_db, Odoo(sim.url, sim.database, "bob", "wrong"), [
        {"trigger_name": "REFUSED", "model": PARTNER, "condition": "create"}], name="Password")
    import_triggers(settings, sqlite_db, odoo_b, [
        {"trigger_name": "NO_MODEL", "model": "res.partnr", "condition": "create"},
        {"trigger_name": "NO_FIELD", "model": PARTNER, "condition": "write",
         "watched_fields": ["emial"]},
        {"trigger_name": "SAME_MODEL_OK", "model": PARTNER, "condition": "create"}],
        name="Broken")
    ticks = itertools.count(0, 1000)  # every cycle is past any back-off: worst case
    poller = make_poller(settings, sqlite_db)
    poller.clock = lambda: float(next(ticks))
    poller.run_once()  # activation
    sim.reset_calls()
    sim_b.reset_calls()
    for cycle in range(5):
        [a] = odoo_a.create(PARTNER, [{"name": f"A{cycle}"}])
        [b] = odoo_b.create(PARTNER, [{"name": f"B{cycle}"}])
        report = poller.run_once()
        delivered = {name: ids for name, ids in jobs_by_trigger(sqlite_db).items()}
        assert delivered["A_NEW"][-1] == a and delivered["B_NEW"][-1] == b
        assert delivered["SAME_MODEL_OK"][-1] == b
        assert report.errors  # the broken ones are reported, each cycle
    # One read of the window per healthy (connection, model) and cycle, nothing else.
    assert sim.calls[(PARTNER, "search_read")] == 5
    # Healthy B and Broken share one connection (same URL, database and login): B_NEW,
    # SAME_MODEL_OK and the broken NO_FIELD are one watched model, still one read per cycle.
    assert sim_b.calls[(PARTNER, "search_read")] == 5
    found = states(sqlite_db)
    assert found["A_NEW"] == (health.OK, None) and found["B_NEW"] == (health.OK, None)
    assert found["SAME_MODEL_OK"] == (health.OK, None)
    assert found["DEAD"][0] == health.WAITING and "connection refused" in found["DEAD"][1]
    assert found["REFUSED"][0] == health.WAITING and "refused login" in found["REFUSED"][1]
    assert found["NO_MODEL"][0] == health.ERROR and "res.partnr" in found["NO_MODEL"][1]
    assert found["NO_FIELD"][0] == health.ERROR and "'emial'" in found["NO_FIELD"][1]

    # Fixed: the triggers by their owner, the password in the connection.
    with sqlite_db.session() as session:
        session.execute(update(Trigger).where(Trigger.trigger_name == "NO_MODEL")
                        .values(model=PARTNER))
        session.execute(update(Trigger).where(Trigger.trigger_name == "NO_FIELD")
                        .values(watched_fields_json='["email"]'))
        session.execute(update(OdooConnection).where(OdooConnection.login == "bob").values(
            password_enc=SecretBox.from_settings(settings).encrypt("right")))
    poller.run_once()
    found = states(sqlite_db)
    assert found["NO_MODEL"] == (health.OK, None)
    assert found["NO_FIELD"] == (health.OK, None)
    assert found["REFUSED"] == (health.OK, None)
    assert found["DEAD"][0] == health.WAITING


def test_a_refused_trigger_is_asked_again_only_after_its_back_off(settings, sqlite_db, sim):
    """A field may be added in Odoo later: the check is repeated, but with back-off."""
    import_triggers(settings, sqlite_db, sim_odoo(sim), [
        {"trigger_name": "LATER", "model": PARTNER, "condition": "write",
         "watched_fields": ["x_later"]}])
    now = [0.0]
    poller = make_poller(settings, sqlite_db, interval=1.0)
    poller.clock = lambda: now[0]
    poller.run_once()
    assert states(sqlite_db)["LATER"][0] == health.ERROR
    sim.reset_calls()
    poller.run_once()  # within the back-off: not asked again
    assert sum(sim.calls.values()) == 0
    now[0] += 120
    poller.run_once()
    assert sim.calls[(PARTNER, "fields_get")] == 1
    assert "'x_later'" in (states(sqlite_db)["LATER"][1] or "")


def jobs_by_trigger(db: Any) -> dict[str, list[int]]:
    from .conftest import recorded

    out: dict[str, list[int]] = {}
    for name, args in recorded(db):
        out.setdefault(name, []).extend(args[1])
    return out
