"""Helpers for tests that need a running simulator (any test folder may use them).

    from connector.simulator.testing import running_simulator, simulator_fixture

    odoo_sim = simulator_fixture(scope="session")          # in a conftest.py

    def test_x(odoo_sim):
        odoorpc.ODOO("127.0.0.1", port=odoo_sim.port).login(odoo_sim.database, "admin", "admin")
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .simulator import OdooSimulator

ADMIN_LOGIN = "admin"
ADMIN_PASSWORD = "admin"


def start_simulator(database: str = "odootest", auditlog: bool = False, demo: bool = True,
                    path: str | None = None, host: str = "127.0.0.1",
                    port: int = 0, login_cost: float = 0.0,
                    latency: float = 0.0) -> OdooSimulator:
    """A started simulator (serving in a background thread); call ``stop()`` when done.

    Logins are free here (``login_cost=0``) so tests stay fast; a test of what a login
    costs passes its own (a real Odoo 17 takes about 0.5 s, the simulator's default).
    """
    sim = OdooSimulator(database=database, path=path, auditlog=auditlog, demo=demo,
                        login_cost=login_cost, latency=latency)
    return sim.start(host=host, port=port)


@contextmanager
def running_simulator(**kwargs) -> Iterator[OdooSimulator]:
    """Context manager around :func:`start_simulator`."""
    sim = start_simulator(**kwargs)
    try:
        yield sim
    finally:
        sim.stop()


def simulator_fixture(scope: Any = "session", name: str | None = None, **kwargs):
    """A pytest fixture yielding a started simulator (pytest is imported only here)."""
    import pytest

    @pytest.fixture(scope=scope, name=name)
    def _simulator():
        with running_simulator(**kwargs) as sim:
            sim.reset_calls()
            yield sim

    return _simulator
