"""Dropped connections, server restarts and timeouts, on both protocols."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from connector.odoo import OdooClient, errors


@pytest.fixture
def healthy(sim: Any) -> Iterator[Any]:
    """The simulator, put back up and fast whatever the test did."""
    yield sim
    sim.set_latency(0)
    sim.set_down(False)


def test_server_down_then_back(client: OdooClient, healthy: Any) -> None:
    assert client.search_count("res.partner", []) > 0
    healthy.set_down(True)
    with pytest.raises(errors.OdooUnreachable) as info:
        client.search_count("res.partner", [])
    assert client.url in str(info.value)
    with pytest.raises(errors.OdooUnreachable):
        client.create("res.partner", {"name": "CLI while down"})
    healthy.set_down(False)
    assert client.search_count("res.partner", []) > 0
    assert client.search_count("res.partner", [("name", "=", "CLI while down")]) == 0


def test_read_rides_over_a_short_outage(client: OdooClient, healthy: Any,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    client.authenticate()
    reset = client._reset_connection

    def back_up_then_reset() -> None:  # the server returns while the client reconnects
        healthy.set_down(False)
        reset()

    monkeypatch.setattr(client, "_reset_connection", back_up_then_reset)
    healthy.set_down(True)
    assert client.search_count("res.partner", []) > 0  # dropped, reconnected, retried
    assert client.calls[("res.partner", "search_count")] == 2
    healthy.set_down(True)
    with pytest.raises(errors.OdooUnreachable, match="dropped during res.partner.write"):
        client.write("res.partner", [1], {"comment": "during outage"})
    assert client.calls[("res.partner", "write")] == 1
    assert client.read("res.partner", [1], ["comment"])[0]["comment"] != "during outage"


def test_timeout(connect: Any, healthy: Any) -> None:
    client = connect(timeout=0.3)
    client.authenticate()
    healthy.set_latency(1.0)
    started = time.monotonic()
    with pytest.raises(errors.OdooTimeout) as info:
        client.search("res.partner", [], limit=1)
    elapsed = time.monotonic() - started
    assert 0.25 < elapsed < 0.9, elapsed  # honoured, and a timeout is not retried
    assert isinstance(info.value, errors.OdooUnreachable)
    assert "within 0.3 s" in str(info.value)
    with pytest.raises(errors.OdooTimeout, match="may already have been applied"):
        client.write("res.partner", [1], {"comment": "slow"})
    healthy.set_latency(0)
    time.sleep(0.8)  # let the simulator finish the slow requests
    assert client.search("res.partner", [], limit=1) != []


def dropping_once(client: OdooClient, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make the next RPC fail as if the connection dropped; return the attempts log."""
    real = client._rpc_execute_kw
    attempts: list[str] = []

    def flaky(conn: Any, uid: int, model: str, method: str, *rest: Any) -> Any:
        attempts.append(method)
        if len(attempts) == 1:
            raise errors.OdooUnreachable("connection dropped", kind="dropped")
        return real(conn, uid, model, method, *rest)

    monkeypatch.setattr(client, "_rpc_execute_kw", flaky)
    return attempts


def test_reads_are_retried_once(client: OdooClient, monkeypatch: pytest.MonkeyPatch) -> None:
    client.authenticate()
    attempts = dropping_once(client, monkeypatch)
    assert client.search_read("res.partner", [("id", "=", 1)], ["name"])[0]["id"] == 1
    assert attempts == ["search_read", "search_read"]


def test_writes_are_not_retried(client: OdooClient, monkeypatch: pytest.MonkeyPatch) -> None:
    client.authenticate()
    attempts = dropping_once(client, monkeypatch)
    with pytest.raises(errors.OdooUnreachable, match="not retried"):
        client.create("res.partner", {"name": "CLI not retried"})
    assert attempts == ["create"]
    assert client.search_count("res.partner", [("name", "=", "CLI not retried")]) == 0
