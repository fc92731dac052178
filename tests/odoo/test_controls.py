"""The simulator's test controls: held transactions, down, latency, call counting, clock."""

from __future__ import annotations

import http.client
import time
import xmlrpc.client
from datetime import datetime, timedelta

import odoorpc
import pytest

from connector.simulator import SimulatorControl

CONNECTION_ERRORS = (OSError, http.client.HTTPException, xmlrpc.client.ProtocolError)


def _search(target, domain, context=None):
    return target.execute_kw("res.partner", "search", [domain],
                             {"context": context} if context else {})


def _write_date(target, pid, context=None):
    rows = target.execute_kw("res.partner", "read", [[pid], ["write_date"]],
                             {"context": context} if context else {})
    return rows[0]["write_date"] if rows else None


def test_held_transaction_is_invisible_until_commit(target, sim, marker, cleanup):
    txn = sim.begin_transaction()
    started = txn.start.strftime("%Y-%m-%d %H:%M:%S")
    sim.now = lambda: txn.start + timedelta(seconds=30)  # the world moves on meanwhile
    held = target.execute_kw("res.partner", "create", [{"name": f"{marker} held"}],
                             {"context": txn.context})
    cleanup("res.partner", held)
    later = target.execute_kw("res.partner", "create", [{"name": f"{marker} later"}])
    cleanup("res.partner", later)
    assert _search(target, [("name", "like", marker)]) == [later]
    assert target.execute_kw("res.partner", "read", [[held], ["name"]]) == []
    # inside the transaction its own record is visible
    assert sorted(_search(target, [("name", "like", marker)], txn.context)) == [held, later]
    cursor = _write_date(target, later)
    txn.commit()
    assert sorted(_search(target, [("name", "like", marker)])) == [held, later]
    # committed late with its early write_date: a '>' cursor on write_date misses it
    assert _write_date(target, held) == started < cursor
    assert _search(target, [("name", "like", marker), ("write_date", ">", cursor)]) == [later]


def test_held_write_keeps_old_values_visible_then_rolls_back(target, sim, marker, cleanup):
    pid = target.execute_kw("res.partner", "create", [{"name": marker, "email": "old@x"}])
    cleanup("res.partner", pid)
    before = _write_date(target, pid)
    txn = sim.begin_transaction()
    assert txn.write("res.partner", [pid], {"email": "new@x"}) is True
    [outside] = target.execute_kw("res.partner", "read", [[pid], ["email"]])
    [inside] = target.execute_kw("res.partner", "read", [[pid], ["email"]],
                                 {"context": txn.context})
    assert (outside["email"], inside["email"]) == ("old@x", "new@x")
    txn.rollback()
    [after] = target.execute_kw("res.partner", "read", [[pid], ["email", "write_date"]])
    assert (after["email"], after["write_date"]) == ("old@x", before)


def test_held_unlink_and_python_api(target, sim, marker):
    with sim.begin_transaction() as txn:
        pid = txn.create("res.partner", {"name": marker})
        assert _search(target, [("name", "=", marker)]) == []
    assert _search(target, [("name", "=", marker)]) == [pid]
    txn = sim.begin_transaction()
    txn.unlink("res.partner", [pid])
    assert _search(target, [("name", "=", marker)]) == [pid]
    txn.commit()
    assert _search(target, [("name", "=", marker)]) == []


def test_down_refuses_connections_and_comes_back(target, sim):
    sim.set_down(True)
    with pytest.raises(CONNECTION_ERRORS):
        target.proxy("common").version()
    with pytest.raises(CONNECTION_ERRORS):
        odoorpc.ODOO(target.host, port=target.port, timeout=5)
    control = SimulatorControl(target.url)
    assert control.action("status")["down"] is True  # the control route still answers
    control.set_down(False)
    assert target.proxy("common").version()["server_serie"] == "17.0"


def test_latency_delays_every_request(target, sim):
    sim.set_latency(0.25)
    started = time.perf_counter()
    target.proxy("common").version()
    assert time.perf_counter() - started >= 0.25
    sim.set_latency(0)
    started = time.perf_counter()
    target.proxy("common").version()
    assert time.perf_counter() - started < 0.25


def test_calls_are_counted_per_model_and_method(target, sim, odoo):
    sim.reset_calls()
    target.execute_kw("res.partner", "search", [[("id", "=", 1)]])
    target.execute_kw("res.partner", "search", [[("id", "=", 2)]])
    odoo.execute_kw("res.partner", "read", [[1], ["name"]])
    target.proxy("common").version()  # not an object call
    assert sim.calls == {("res.partner", "search"): 2, ("res.partner", "read"): 1}
    sim.reset_calls()
    assert not sim.calls


def test_http_control_endpoint(target, sim, marker, cleanup):
    control = SimulatorControl(target.url)
    control.reset_calls()
    target.execute_kw("res.partner", "search_count", [[]])
    assert control.calls[("res.partner", "search_count")] == 1
    txn = control.begin_transaction()
    pid = target.execute_kw("res.partner", "create", [{"name": marker}],
                            {"context": txn.context})
    cleanup("res.partner", pid)
    assert _search(target, [("name", "=", marker)]) == []
    txn.commit()
    assert _search(target, [("name", "=", marker)]) == [pid]
    control.set_clock("2032-02-03 04:05:06")
    target.execute_kw("res.partner", "write", [[pid], {"ref": "clocked"}])
    control.set_clock(None)
    assert _write_date(target, pid) == "2032-02-03 04:05:06"
    assert control.execute("res.partner", "search", [("name", "=", marker)]) == [pid]


def test_clock_override_drives_dates(target, sim, marker, cleanup):
    sim.now = lambda: datetime(2029, 12, 31, 23, 59, 59, 999999)
    pid = target.execute_kw("res.partner", "create", [{"name": marker}])
    cleanup("res.partner", pid)
    assert _write_date(target, pid) == "2029-12-31 23:59:59"


def test_simulator_in_another_process_is_controlled_over_http(sim):
    # ``sim`` only marks this test as needing a simulator (not a real Odoo).
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "connector.simulator", "--port",
                                str(port), "--database", "remote", "--login-cost", "0"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        common = xmlrpc.client.ServerProxy(f"{url}/xmlrpc/2/common")
        deadline = time.monotonic() + 20
        while True:
            try:
                uid = common.authenticate("remote", "admin", "admin", {})
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert uid == 2
        control = SimulatorControl(url)
        control.set_down(True)
        with pytest.raises(CONNECTION_ERRORS):
            xmlrpc.client.ServerProxy(f"{url}/xmlrpc/2/common").version()
        control.set_down(False)
        objects = xmlrpc.client.ServerProxy(f"{url}/xmlrpc/2/object")
        assert objects.execute_kw("remote", 2, "admin", "res.partner", "search",
                                  [[("is_company", "=", True)]], {"limit": 3}) == [14, 10, 11]
        assert control.calls == {("res.partner", "search"): 1}
    finally:
        process.terminate()
        process.wait(timeout=10)
