"""Bulk data: 10,000 records created in batches, then read and counted (simulator only: it
writes 10,000 records). How fast this goes is measured by ``python -m bench.odoo``."""

from __future__ import annotations

import pytest

#: Long-running: left out of the fast subset (-m "not slow").
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bulk(target, make_marker):
    """10,000 partners created over RPC in batches of 1,000; (marker, ids)."""
    if target.sim is None:
        pytest.skip("needs the simulator's test controls (creates 10,000 partners)")
    marker = make_marker("BULK")
    ids: list[int] = []
    for batch in range(10):
        ids += target.execute_kw("res.partner", "create", [[
            {"name": f"{marker} {batch * 1000 + i:05d}", "email": f"p{i}@example.com",
             "is_company": i % 10 == 0} for i in range(1000)]])
    yield marker, ids
    target.execute_kw("res.partner", "unlink", [ids])


def test_creating_ten_thousand_records_gives_ten_thousand_ids(bulk):
    _marker, ids = bulk
    assert len(set(ids)) == 10_000


def test_search_read_and_count_of_bulk_records(target, odoo, bulk):
    marker, ids = bulk
    domain = [("id", "in", ids[:1000])]
    fields = {"fields": ["id", "write_date"]}
    assert len(odoo.execute_kw("res.partner", "search_read", [domain], fields)) == 1000
    assert len(target.execute_kw("res.partner", "search_read", [domain], fields)) == 1000
    count = target.execute_kw("res.partner", "search_count", [[("name", "=like", f"{marker} %"),
                                                              ("is_company", "=", True)]])
    assert count == 1000
