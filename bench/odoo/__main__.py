"""``python -m bench.odoo``: how fast the built-in Odoo simulator answers; prints a table.

The simulator stands for Odoo in the tests and in the other benchmarks, so its own speed
bounds theirs: this measures creating 10,000 partners over XML-RPC (batches of 1,000), a
``search_read`` of 1,000 records over JSON-RPC (odoorpc) and over XML-RPC, and a
``search_count`` over the 10,000. Each read is run several times; the fastest run estimates
the cost, slower ones measure a busy machine. The figures were once asserted by the test suite
(10 s, 50 ms, 100 ms, 500 ms): they are printed next to those targets, with their ratio.
"""

from __future__ import annotations

import argparse
import time
import xmlrpc.client
from collections.abc import Callable
from typing import Any

import odoorpc

from connector.simulator.testing import ADMIN_LOGIN, ADMIN_PASSWORD, running_simulator

#: The limits the test suite used to assert, in seconds.
TARGETS = {"create": 10.0, "search_read_jsonrpc": 0.05, "search_read_xmlrpc": 0.1,
           "search_count": 0.5}


def best_of(call: Callable[[], Any], runs: int) -> float:
    """The fastest of ``runs`` calls, in seconds."""
    durations = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        durations.append(time.perf_counter() - started)
    return min(durations)


def measure(records: int, runs: int) -> dict[str, float]:
    """Seconds taken by each operation on a fresh simulator."""
    with running_simulator(database="odootest", demo=True) as sim:
        proxy = xmlrpc.client.ServerProxy(f"{sim.url}/xmlrpc/2/object", allow_none=False)
        uid = xmlrpc.client.ServerProxy(f"{sim.url}/xmlrpc/2/common").authenticate(
            sim.database, ADMIN_LOGIN, ADMIN_PASSWORD, {})

        def execute(model: str, method: str, *args: Any, **kwargs: Any) -> Any:
            return proxy.execute_kw(sim.database, uid, ADMIN_PASSWORD, model, method,
                                    list(args), kwargs)

        batch = min(1000, records)
        started = time.perf_counter()
        ids: list[int] = []
        for first in range(0, records, batch):
            ids += execute("res.partner", "create", [
                {"name": f"BENCH {first + i:05d}", "email": f"p{i}@example.com",
                 "is_company": i % 10 == 0} for i in range(min(batch, records - first))])
        figures = {"create": time.perf_counter() - started}
        odoo = odoorpc.ODOO("127.0.0.1", port=sim.port, timeout=60)
        odoo.login(sim.database, ADMIN_LOGIN, ADMIN_PASSWORD)
        domain = [("id", "in", ids[:1000])]
        fields = {"fields": ["id", "write_date"]}
        figures["search_read_jsonrpc"] = best_of(lambda: odoo.execute_kw(
            "res.partner", "search_read", [domain], fields), runs)
        figures["search_read_xmlrpc"] = best_of(lambda: execute(
            "res.partner", "search_read", domain, **fields), runs)
        figures["search_count"] = best_of(lambda: execute(
            "res.partner", "search_count", [("name", "=like", "BENCH %"),
                                            ("is_company", "=", True)]), runs)
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000,
                        help="partners to create (default 10000)")
    parser.add_argument("--runs", type=int, default=7, help="runs of each read (default 7)")
    options = parser.parse_args()
    figures = measure(options.records, options.runs)
    print(f"Odoo simulator, {options.records} partners, best of {options.runs} reads")
    print(f"{'operation':<22}{'seconds':>10}{'target':>10}{'ratio':>8}")
    for name, seconds in figures.items():
        target = TARGETS[name]
        print(f"{name:<22}{seconds:>10.4f}{target:>10.3f}{seconds / target:>8.2f}")


if __name__ == "__main__":
    main()
