"""Fixtures of the Odoo conformance suite.

By default every test talks to an :class:`OdooSimulator` started for the session. Set
``ODOO_TEST_URL``, ``ODOO_TEST_DB``, ``ODOO_TEST_USER`` and ``ODOO_TEST_PASSWORD`` to run
the same tests against a real Odoo 17; tests that need the simulator's controls are then
skipped. Tests only use the public RPC interface (odoorpc, xmlrpc.client, plain JSON).
"""

from __future__ import annotations

import json
import os
import random
import urllib.request
import xmlrpc.client
from dataclasses import dataclass
from urllib.parse import urlsplit

import odoorpc
import pytest

from connector.simulator.testing import running_simulator

ENV_KEYS = ("ODOO_TEST_URL", "ODOO_TEST_DB", "ODOO_TEST_USER", "ODOO_TEST_PASSWORD")
SIM_ONLY = "needs the simulator's test controls"
# Letters absent from every word the golden domains search for ("eve", "glob", "alice"...),
# so a marker never matches a pattern by accident.
MARKER_LETTERS = "HJKNPQRSTWXYZ"


def real_odoo_configured() -> bool:
    """True when the suite must run against a real Odoo."""
    return all(os.environ.get(key) for key in ENV_KEYS)


@dataclass
class Target:
    """The Odoo under test and ways to talk to it."""

    url: str
    db: str
    login: str
    password: str
    sim: object = None
    uid: int = 0

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def ssl(self) -> bool:
        return urlsplit(self.url).scheme == "https"

    def proxy(self, service: str) -> xmlrpc.client.ServerProxy:
        """An XML-RPC proxy of ``/xmlrpc/2/<service>`` (a new one: proxies are not
        thread-safe and keep connections)."""
        return xmlrpc.client.ServerProxy(f"{self.url}/xmlrpc/2/{service}", allow_none=False)

    def execute_kw(self, model, method, args=(), kwargs=None, password=None, uid=None):
        """``object.execute_kw`` over XML-RPC as the test user."""
        return self.proxy("object").execute_kw(
            self.db, uid or self.uid, password or self.password, model, method, list(args),
            kwargs or {})

    def post_json(self, path: str, params: dict, cookie: str | None = None):
        """POST a JSON-RPC envelope; returns (decoded body, response headers)."""
        body = json.dumps({"jsonrpc": "2.0", "method": "call", "params": params,
                           "id": random.randint(1, 10**9)}).encode()
        request = urllib.request.Request(self.url + path, data=body,
                                         headers={"Content-Type": "application/json"})
        if cookie:
            request.add_header("Cookie", cookie)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read()), response.headers

    def jsonrpc(self, service: str, method: str, *args) -> dict:
        """The raw JSON-RPC answer (result or error object) of ``/jsonrpc``."""
        answer, _headers = self.post_json("/jsonrpc", {"service": service, "method": method,
                                                       "args": list(args)})
        return answer

    def json_execute_kw(self, model, method, args=(), kwargs=None, password=None) -> dict:
        """The raw JSON-RPC answer of ``object.execute_kw``."""
        return self.jsonrpc("object", "execute_kw", self.db, self.uid,
                            password or self.password, model, method, list(args),
                            kwargs or {})

    def odoorpc(self) -> odoorpc.ODOO:
        """A logged-in odoorpc client."""
        client = odoorpc.ODOO(self.host, protocol="jsonrpc+ssl" if self.ssl else "jsonrpc",
                              port=self.port, timeout=60)
        client.login(self.db, self.login, self.password)
        return client


@pytest.fixture(scope="session")
def target():
    """The Odoo under test: a real one from the environment, or a fresh simulator."""
    if real_odoo_configured():
        tgt = Target(os.environ["ODOO_TEST_URL"].rstrip("/"), os.environ["ODOO_TEST_DB"],
                     os.environ["ODOO_TEST_USER"], os.environ["ODOO_TEST_PASSWORD"])
        uid = tgt.proxy("common").authenticate(tgt.db, tgt.login, tgt.password, {})
        assert isinstance(uid, int) and uid, "ODOO_TEST_* credentials are refused"
        tgt.uid = uid
        yield tgt
        return
    with running_simulator(database="odootest", demo=True) as sim:
        tgt = Target(sim.url, sim.database, "admin", "admin", sim=sim, uid=2)
        yield tgt


@pytest.fixture
def sim(target):
    """The simulator behind ``target``; skips the test against a real Odoo."""
    if target.sim is None:
        pytest.skip(SIM_ONLY)
    simulator = target.sim
    yield simulator
    # Leave the shared simulator as the next test expects it.
    simulator.set_down(False)
    simulator.set_latency(0)
    simulator.now = None


@pytest.fixture(scope="session")
def odoo(target) -> odoorpc.ODOO:
    """A logged-in odoorpc client shared by the session."""
    return target.odoorpc()


def new_marker(prefix: str = "T") -> str:
    """A unique upper-case tag to name test records with."""
    return prefix + "".join(random.choice(MARKER_LETTERS) for _ in range(8))


@pytest.fixture(scope="session")
def make_marker():
    """A function returning a new unique marker (for module-scoped fixtures)."""
    return new_marker


@pytest.fixture
def marker() -> str:
    """A unique tag for the records a test creates."""
    return new_marker()


@pytest.fixture
def cleanup(target):
    """Collects (model, ids) created by a test and unlinks them afterwards."""
    created: list[tuple[str, list[int]]] = []
    yield lambda model, ids: created.append((model, ids if isinstance(ids, list) else [ids]))
    for model, ids in reversed(created):
        existing = target.execute_kw(model, "search", [[("id", "in", ids)]],
                                     {"context": {"active_test": False}})
        if existing:
            target.execute_kw(model, "unlink", [existing])
