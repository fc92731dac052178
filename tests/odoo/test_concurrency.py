"""Several clients at once: every call is answered and each is one transaction."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor


def test_parallel_clients(target, marker, cleanup):
    def work(worker: int) -> list[int]:
        ids = []
        for i in range(10):
            ids.append(target.execute_kw("res.partner", "create",
                                         [{"name": f"{marker} {worker}-{i}"}]))
            target.execute_kw("res.partner", "search_read",
                              [[("name", "=like", f"{marker} %")]], {"fields": ["name"]})
        target.execute_kw("res.partner", "write", [ids, {"ref": f"w{worker}"}])
        return ids

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(8)))
    ids = [pid for chunk in results for pid in chunk]
    cleanup("res.partner", ids)
    assert len(set(ids)) == 80
    assert target.execute_kw("res.partner", "search_count",
                             [[("name", "=like", f"{marker} %")]]) == 80
    rows = target.execute_kw("res.partner", "read", [ids, ["ref", "write_date"]])
    for worker, chunk in enumerate(results):
        mine = [row for row in rows if row["id"] in chunk]
        assert {row["ref"] for row in mine} == {f"w{worker}"}
        assert len({row["write_date"] for row in mine}) == 1  # one write, one write_date
