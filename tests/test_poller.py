"""The poller's loop: one RPC per watched model when idle, and it survives an Odoo outage."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import xmlrpc.client

import pytest
from sqlalchemy import select

from connector.connections import ClientPool
from connector.detection.poller import Poller, backoff_delay
from connector.projects import ProjectImporter, parse
from connector.store.crypto import SecretBox
from connector.store.models import Job, PollCursor

PROJECT = """
name: Watch
odoo: {{url: "{url}", database: {database}, login: admin, password: admin}}
tasks:
  - name: T
    code: |
      def handle_db(records):
          pass
    triggers:
      db:
{triggers}
"""


@pytest.fixture
def own_sim():
    """A simulator of this test alone, since these tests take it down."""
    from connector.simulator import OdooSimulator

    sim = OdooSimulator(database="odootest", demo=True, login_cost=0)
    sim.start(host="127.0.0.1", port=0)
    yield sim
    sim.stop()


def setup_poller(settings, sqlite_db, sim, triggers=1) -> Poller:
    lines = "\n".join(
        f"        - {{trigger_name: T{i}, model: res.partner, condition: create}}"
        for i in range(triggers))
    box = SecretBox.from_settings(settings)
    with sqlite_db.session() as session:
        ProjectImporter(session, box, environ={}).import_data(
            parse(PROJECT.format(url=sim.url, database=sim.database, triggers=lines)))
    return Poller(sqlite_db, ClientPool(box), batch_size=50, interval=0.05)


def create(sim, *names):
    proxy = xmlrpc.client.ServerProxy(f"{sim.url}/xmlrpc/2/object")
    return proxy.execute_kw(sim.database, 2, "admin", "res.partner", "create",
                            [[{"name": n} for n in names]])


def job_ids(sqlite_db):
    with sqlite_db.session() as session:
        return [job.args[1] for job in session.scalars(select(Job).order_by(Job.id))]


@pytest.mark.parametrize("triggers", [1, 10])
def test_idle_cycle_costs_one_call_per_model(settings, sqlite_db, own_sim, triggers):
    poller = setup_poller(settings, sqlite_db, own_sim, triggers)
    poller.run_once()  # first cycle: login and initial cursor
    own_sim.reset_calls()
    for _ in range(5):
        assert poller.run_once().jobs == 0
    assert sum(own_sim.calls.values()) == 5
    assert own_sim.calls[("res.partner", "search_read")] == 5


def test_every_trigger_gets_its_batched_jobs_in_id_order(settings, sqlite_db, own_sim):
    poller = setup_poller(settings, sqlite_db, own_sim, triggers=2)
    poller.run_once()
    ids = create(own_sim, *[f"P{i}" for i in range(120)])
    assert poller.run_once().jobs == 6  # 120 records, batches of 50, two triggers
    batches = job_ids(sqlite_db)
    assert batches[0] + batches[1] + batches[2] == sorted(ids)
    assert [len(b) for b in batches] == [50, 50, 20, 50, 50, 20]


def test_outage_is_logged_once_and_nothing_is_lost(settings, sqlite_db, own_sim, caplog):
    poller = setup_poller(settings, sqlite_db, own_sim)
    ticks = iter(range(0, 10**6, 100))
    poller.clock = lambda: float(next(ticks))  # each cycle is past the back-off of the last
    poller.run_once()
    before = create(own_sim, "before outage")
    own_sim.set_down(True)
    caplog.set_level(logging.WARNING, logger="syncstudio.poller")
    for _ in range(4):
        report = poller.run_once()
        assert report.jobs == 0 and report.errors
    assert poller.failures == 4
    outage_lines = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(outage_lines) == 1
    own_sim.set_down(False)
    during = create(own_sim, "after outage")
    report = poller.run_once()
    assert report.errors == []
    assert job_ids(sqlite_db) == [sorted(before + during)]
    assert poller.failures == 0
    assert any("reachable again" in r.getMessage() for r in caplog.records)


def test_poller_thread_survives_an_outage(settings, sqlite_db, own_sim):
    poller = setup_poller(settings, sqlite_db, own_sim)
    poller.run_once()
    own_sim.set_down(True)
    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop,), daemon=True)
    thread.start()
    try:
        done = threading.Event()
        # Wait for a few failed cycles without sleeping blindly.
        for _ in range(200):
            if poller.failures >= 2:
                done.set()
                break
            stop.wait(0.05)
        assert done.is_set() and thread.is_alive()
        own_sim.set_down(False)
        [pid] = create(own_sim, "late")
        for _ in range(400):
            if job_ids(sqlite_db):
                break
            stop.wait(0.05)
        assert job_ids(sqlite_db) == [[pid]]
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_backoff_doubles_and_is_capped():
    assert backoff_delay(0, 1.0) == 1.0
    assert backoff_delay(1, 1.0) == 2.0
    assert backoff_delay(3, 1.0) == 8.0
    assert backoff_delay(30, 1.0, cap=60.0) == 60.0


def cursor_stamps(sqlite_db):
    with sqlite_db.session() as session:
        cursor = session.scalar(select(PollCursor))
        return cursor.updated_at, cursor.polled_at


def test_polled_at_moves_only_on_cycles_that_reach_odoo(settings, sqlite_db, own_sim):
    """``polled_at`` (what /metrics reports as the last successful poll) stands still during
    an outage, while the cursor's ``updated_at`` still moves with each cycle's lease. A cycle's
    success is saved by the next cycle's lease statement: no extra commit per cycle."""
    clock = [dt.datetime(2026, 1, 1, 8, 0, 0)]  # before the real clock that sets updated_at

    def cycle(seconds_later: float):
        clock[0] += dt.timedelta(seconds=seconds_later)
        return poller.run_once()

    poller = setup_poller(settings, sqlite_db, own_sim)
    poller.now = lambda: clock[0]
    poller.clock = lambda: clock[0].timestamp()
    assert cycle(0).errors == []
    good = clock[0]
    assert cursor_stamps(sqlite_db)[1] is None  # saved by the next cycle
    own_sim.set_down(True)
    assert cycle(30).errors
    touched, polled = cursor_stamps(sqlite_db)
    assert polled == good and touched > good
    assert cycle(30).errors
    assert cursor_stamps(sqlite_db)[1] == good  # failed cycles save nothing
    own_sim.set_down(False)
    assert cycle(30).errors == []
    recovered = clock[0]
    assert cycle(1).errors == []
    assert cursor_stamps(sqlite_db)[1] == recovered
