"""Call counting and use of one client from several threads, on both protocols."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from connector.odoo import OdooClient


def test_calls_are_counted_per_model_and_method(client: OdooClient, sim: Any) -> None:
    client.authenticate()
    sim.reset_calls()
    client.calls.clear()
    client.search("res.partner", [], limit=1)
    client.search("res.partner", [], limit=2)
    client.search_count("res.partner", [])
    client.read("res.users", [2], ["name"])
    client.read("res.users", [], ["name"])  # nothing to read: no RPC
    expected = {("res.partner", "search"): 2, ("res.partner", "search_count"): 1,
                ("res.users", "read"): 1}
    assert dict(client.calls) == expected
    assert client.total_calls == 4
    for key, count in expected.items():
        assert sim.calls[key] == count, key


def test_four_threads_share_one_client(client: OdooClient, sim: Any) -> None:
    client.calls.clear()
    sim.reset_calls()
    barrier = threading.Barrier(4)

    def work(n: int) -> list[int]:
        barrier.wait()
        ids = []
        for i in range(5):
            pid = client.create("res.partner", {"name": f"CLIthread {n}-{i}"})
            assert isinstance(pid, int)
            row = client.read("res.partner", [pid], ["name"])
            assert row == [{"id": pid, "name": f"CLIthread {n}-{i}"}]
            ids.append(pid)
        return ids

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, range(4)))
    all_ids = [pid for ids in results for pid in ids]
    assert len(set(all_ids)) == 20
    assert client.calls[("res.partner", "create")] == 20
    assert client.calls[("res.partner", "read")] == 20
    assert sim.calls[("res.partner", "create")] == 20
    assert client.search_count("res.partner", [("id", "in", all_ids)]) == 20
