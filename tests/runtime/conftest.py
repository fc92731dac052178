"""Fixtures of the runtime tests: a recording fake client, the Odoo simulator, a runner."""

from __future__ import annotations

import collections
from typing import Any

import pytest

from worker.runtime import run_handler


class FakeClient:
    """A tiny in-memory Odoo: enough for sandbox tests that barely touch ``env``."""

    uid = 2

    def __init__(self) -> None:
        self.calls: collections.Counter[tuple[str, str]] = collections.Counter()
        self.records = {1: {"name": "Admin", "email": "admin@example.com"},
                        2: {"name": "Bob", "email": False}}

    def fields_get(self, model: str, attributes: Any = None) -> dict[str, Any]:
        self.calls[(model, "fields_get")] += 1
        return {"name": {"type": "char"}, "email": {"type": "char"}}

    def search(self, model: str, domain: Any, offset: int = 0, limit: Any = None,
               order: Any = None, context: Any = None) -> list[int]:
        self.calls[(model, "search")] += 1
        return sorted(self.records)

    def read(self, model: str, ids: Any, fields: Any, context: Any = None) -> list[dict]:
        self.calls[(model, "read")] += 1
        return [{"id": i, **{f: self.records[i][f] for f in fields}}
                for i in ids if i in self.records]


@pytest.fixture
def fake_client() -> FakeClient:
    return FakeClient()


@pytest.fixture
def run(fake_client: FakeClient):
    """``run(task_code, handler="handle_cron", **kwargs)`` with logs collected in ``run.logs``."""
    logs: list[tuple[str, str]] = []

    def runner(task_code: str, handler: str = "handle_cron", **kwargs: Any) -> Any:
        kwargs.setdefault("client", fake_client)
        kwargs.setdefault("log", lambda message, level: logs.append((level, message)))
        kwargs.setdefault("allowlist", ())
        return run_handler(task_code=task_code, handler=handler, **kwargs)

    runner.logs = logs  # type: ignore[attr-defined]
    return runner


def _simulator_available() -> bool:
    try:
        from connector.simulator import OdooSimulator  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def simulator():
    """A running Odoo simulator with demo data (skipped until the simulator exists)."""
    if not _simulator_available():
        pytest.skip("connector.simulator.OdooSimulator is not available yet")
    from connector.simulator import OdooSimulator

    sim = OdooSimulator(database="odootest", demo=True, login_cost=0)
    sim.start(port=0)
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def client(simulator):
    """A real JSON-RPC client logged in to the simulator, its counters reset."""
    from connector.odoo import make_client

    rpc = make_client(url=simulator.url, database="odootest", login="admin", password="admin",
                      protocol="jsonrpc")
    rpc.authenticate()
    rpc.calls.clear()
    simulator.reset_calls()
    yield rpc
    rpc.close()
