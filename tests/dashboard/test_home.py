"""The home page from a real poller against the Odoo simulator: a connection up with its last
poll, detection latency and RPC calls per minute, then down with the reason once Odoo goes
away; failed jobs and their link; every figure read from what the poller stored."""

from __future__ import annotations

import html
import json

from sqlalchemy import select

from connector.detection.poller import Poller
from connector.store.models import PollStat, Trigger
from tests.test_poller import create, setup_poller
from tests.test_poller import own_sim as own_sim  # noqa: F401 - a fixture


def text(response):
    return html.unescape(response.get_data(as_text=True))


def card(page: str, name: str) -> str:
    start = page.index(f'data-connection="{name}"')
    return page[start:page.index("</section>", start)]


def test_home_shows_connection_health_from_the_poller(settings, sqlite_db, own_sim, reader,
                                                      dev):
    poller: Poller = setup_poller(settings, sqlite_db, own_sim)
    poller.run_once()  # activation: the baseline
    create(own_sim, "Ann", "Bob")
    assert poller.run_once().jobs == 1
    poller.stats.flush()
    with sqlite_db.session() as session:
        rows = session.scalars(select(PollStat)).all()  # one a minute: two at a boundary
        assert sum(row.cycles for row in rows) == 2, [(r.minute, r.cycles) for r in rows]
        assert sum(row.rpc_calls for row in rows) > 0 and rows[-1].error is None
        latencies = [value for row in rows for value in json.loads(row.latencies_json)]
    assert len(latencies) == 2 and all(0 <= value < 60 for value in latencies)
    page = text(reader.get("/dashboard/"))
    name = next(part.split('"')[0] for part in page.split('data-connection="')[1:])
    health = card(page, name)
    assert 'class="status up"' in health
    assert "Watch" in health  # the project using it
    assert "s</b><span>detection latency" in health
    assert "—</b><span>Odoo RPC calls" not in health
    # Odoo goes away: the next cycles fail, the card says down and why.
    own_sim.stop()
    poller.run_once()
    poller.stats.flush()
    page = text(reader.get("/dashboard/"))
    health = card(page, name)
    assert 'class="status down"' in health
    assert "need attention" in page
    with sqlite_db.session() as session:
        trigger_id = session.scalars(select(Trigger.id).where(Trigger.kind == "db")).one()
    assert f"/dashboard/triggers/{trigger_id}" in health  # the trigger waiting, linked
    assert "check the connection" in health


def test_home_without_a_poller_says_so_and_lists_failures(dev, reader, sqlite_db, settings,
                                                          project_id):
    from .worker_step import WorkerStep

    with sqlite_db.session() as session:
        broken = session.scalars(select(Trigger.id).where(Trigger.trigger_name == "BREAK")).one()
    dev.post(f"/dashboard/triggers/{broken}/run")
    with WorkerStep(settings, sqlite_db) as worker:
        assert worker.run_pending() == 1
    page = text(reader.get("/dashboard/"))
    assert "1 job(s) failed" in page
    failures = page[page.index('id="failures"'):]
    assert "the button broke" in failures and "/dashboard/jobs/1" in failures
    assert 'data-series="failed" data-value="1"' in page  # the chart's bar of this hour
    assert "/dashboard/jobs?state=failed" in page


def test_stats_survive_a_database_error(settings, sqlite_db, own_sim):
    poller: Poller = setup_poller(settings, sqlite_db, own_sim)
    with sqlite_db.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE poll_stat")
    # Statistics are not worth a failed cycle: detection goes on.
    poller.run_once()
    create(own_sim, "Cy")
    assert poller.run_once().jobs == 1
