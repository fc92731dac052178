"""Fixtures of the detection tests: an Odoo (the simulator, or a real one), projects with DB
triggers, a poller, and the jobs it recorded.

Tests marked ``real_odoo_ok`` need no simulator control, so they run against a real Odoo when
``ODOO_TEST_URL``/``ODOO_TEST_DB``/``ODOO_TEST_USER``/``ODOO_TEST_PASSWORD`` are set.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from connector.connections import ClientPool
from connector.detection.poller import Poller
from connector.odoo import make_client
from connector.projects import ProjectImporter
from connector.store.crypto import SecretBox
from connector.store.models import Job, Trigger


def simulator_class() -> Any:
    try:
        from connector.simulator import OdooSimulator
    except ImportError:  # the package export may still be landing
        from connector.simulator.simulator import OdooSimulator
    return OdooSimulator


class Odoo:
    """Where the tests write: URL and credentials, a client, and the simulator if it is one."""

    def __init__(self, url: str, database: str, login: str, password: str,
                 sim: Any = None) -> None:
        self.url, self.database, self.login, self.password, self.sim = (
            url, database, login, password, sim)
        self.client = make_client(url, database, login, password)

    def create(self, model: str, vals_list: list[dict[str, Any]]) -> list[int]:
        return self.client.create(model, vals_list)  # type: ignore[return-value]

    def write(self, model: str, ids: list[int], vals: dict[str, Any]) -> None:
        self.client.write(model, ids, vals)

    def unlink(self, model: str, ids: list[int]) -> None:
        self.client.unlink(model, ids)


class FakeClock:
    """A clock shared by the simulator and the poller, moved by the test."""

    def __init__(self) -> None:
        self.value = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += dt.timedelta(seconds=seconds)


@pytest.fixture
def sim() -> Iterator[Any]:
    """A simulator of this test alone (tests move its clock and take it down)."""
    simulator = simulator_class()(database="odootest", demo=True, login_cost=0)
    simulator.start(host="127.0.0.1", port=0)
    yield simulator
    simulator.stop()


@pytest.fixture
def audit_sim() -> Iterator[Any]:
    """A simulator with the OCA auditlog models installed."""
    simulator = simulator_class()(database="odootest", demo=True, auditlog=True, login_cost=0)
    simulator.start(host="127.0.0.1", port=0)
    yield simulator
    simulator.stop()


@pytest.fixture
def odoo(request: pytest.FixtureRequest) -> Odoo:
    """A real Odoo when ODOO_TEST_URL is set, else a fresh simulator."""
    url = os.environ.get("ODOO_TEST_URL")
    if url:
        return Odoo(url, os.environ["ODOO_TEST_DB"], os.environ.get("ODOO_TEST_USER", "admin"),
                    os.environ.get("ODOO_TEST_PASSWORD", "admin"))
    simulator = request.getfixturevalue("sim")
    return Odoo(simulator.url, simulator.database, "admin", "admin", simulator)


def sim_odoo(simulator: Any) -> Odoo:
    return Odoo(simulator.url, simulator.database, "admin", "admin", simulator)


def import_triggers(settings: Any, db: Any, odoo: Odoo, triggers: list[dict[str, Any]],
                    name: str = "Detect") -> None:
    """A project whose one task has the given DB triggers."""
    data = {"name": name, "odoo": {"url": odoo.url, "database": odoo.database,
                                   "login": odoo.login, "password": odoo.password},
            "tasks": [{"name": "T", "code": "def handle_db(records):\n    pass\n",
                       "triggers": {"db": triggers}}]}
    with db.session() as session:
        ProjectImporter(session, SecretBox.from_settings(settings), environ={}).import_data(
            json.loads(json.dumps(data)))


def make_poller(settings: Any, db: Any, **options: Any) -> Poller:
    options.setdefault("batch_size", 200)
    options.setdefault("interval", 0.05)
    return Poller(db, ClientPool(SecretBox.from_settings(settings)), **options)


def recorded(db: Any) -> list[tuple[str, list[Any]]]:
    """(trigger name, args) of every job, in order."""
    with db.session() as session:
        names = {t.id: t.trigger_name for t in session.scalars(select(Trigger))}
        return [(names.get(job.trigger_id, "?"), job.args)
                for job in session.scalars(select(Job).order_by(Job.id))]


def ids_of(db: Any, trigger_name: str) -> list[int]:
    """Every id delivered to ``trigger_name``, in delivery order (duplicates kept)."""
    return [rid for name, args in recorded(db) if name == trigger_name for rid in args[1]]
