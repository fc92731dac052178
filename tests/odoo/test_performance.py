"""Speed the product and its benchmarks rely on (simulator only: it writes 10,000 records)."""

from __future__ import annotations

import time

import pytest


@pytest.fixture(scope="module")
def bulk(target, make_marker):
    """10,000 partners created over RPC in batches of 1,000; (marker, ids, seconds)."""
    if target.sim is None:
        pytest.skip("needs the simulator's test controls (creates 10,000 partners)")
    marker = make_marker("BULK")
    started = time.perf_counter()
    ids: list[int] = []
    for batch in range(10):
        ids += target.execute_kw("res.partner", "create", [[
            {"name": f"{marker} {batch * 1000 + i:05d}", "email": f"p{i}@example.com",
             "is_company": i % 10 == 0} for i in range(1000)]])
    elapsed = time.perf_counter() - started
    yield marker, ids, elapsed
    target.execute_kw("res.partner", "unlink", [ids])


def test_creating_ten_thousand_records_takes_seconds(bulk):
    _marker, ids, elapsed = bulk
    assert len(set(ids)) == 10_000
    assert elapsed < 10, f"10,000 creates took {elapsed:.1f}s"


def test_search_read_of_1000_records_is_fast(target, odoo, bulk):
    marker, ids, _elapsed = bulk
    domain = [("id", "in", ids[:1000])]
    fields = {"fields": ["id", "write_date"]}

    def best_of(call, runs=7):
        # The fastest run estimates the cost; slower ones measure a busy machine.
        durations = []
        for _ in range(runs):
            started = time.perf_counter()
            assert len(call()) == 1000
            durations.append(time.perf_counter() - started)
        return min(durations)

    assert best_of(lambda: odoo.execute_kw("res.partner", "search_read", [domain],
                                           fields)) < 0.05
    assert best_of(lambda: target.execute_kw("res.partner", "search_read", [domain],
                                             fields)) < 0.1
    started = time.perf_counter()
    count = target.execute_kw("res.partner", "search_count", [[("name", "=like", f"{marker} %"),
                                                              ("is_company", "=", True)]])
    assert count == 1000
    assert time.perf_counter() - started < 0.5
