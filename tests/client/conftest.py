"""Fixtures for the Odoo client tests: a simulator per module and a client per protocol."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from connector.odoo import OdooClient, make_client

PROTOCOLS = ["jsonrpc", "xmlrpc"]


@pytest.fixture(scope="module")
def sim() -> Iterator[Any]:
    """An Odoo simulator for the test module (admin/admin, uid 2)."""
    from connector.simulator import OdooSimulator

    simulator = OdooSimulator(database="odootest", demo=True, login_cost=0)
    simulator.start(host="127.0.0.1", port=0)
    yield simulator
    simulator.stop()


@pytest.fixture(params=PROTOCOLS)
def protocol(request: pytest.FixtureRequest) -> str:
    """Each protocol in turn."""
    return str(request.param)


@pytest.fixture
def connect(sim: Any, protocol: str) -> Iterator[Any]:
    """A factory of clients on the simulator; every client made is closed afterwards."""
    made: list[OdooClient] = []

    def factory(password: str = "admin", **options: Any) -> OdooClient:
        options.setdefault("timeout", 5.0)
        options.setdefault("retry_delay", 0.05)
        options.setdefault("url", sim.url)
        options.setdefault("database", sim.database)
        options.setdefault("login", "admin")
        client = make_client(password=password, protocol=protocol, **options)
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()


@pytest.fixture
def client(connect: Any) -> OdooClient:
    """A client logged in as admin on the simulator."""
    made: OdooClient = connect()
    return made


@pytest.fixture
def free_port() -> int:
    """A local TCP port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
