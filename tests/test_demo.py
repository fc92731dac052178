"""`syncstudio demo`: two simulators, the original Odoo module's two demo projects, and the
whole service in one process, with no external service."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
import xmlrpc.client

import pytest

from tests.support import wait_until

#: Long-running: left out of the fast subset (-m "not slow").
pytestmark = pytest.mark.slow

CLI = [sys.executable, "-c", "from connector.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]



def test_demo_runs_both_projects(tmp_path):
    port = free_port()
    env = {**os.environ, "SYNCSTUDIO_HOME": str(tmp_path), "SYNCSTUDIO_POLL_INTERVAL": "0.3"}
    env.pop("SYNCSTUDIO_DATABASE_URL", None)
    env.pop("SYNCSTUDIO_BROKER_URL", None)
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        process = subprocess.Popen([*CLI, "demo", "--port", str(port)], env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        text = wait_until(lambda: "Dashboard:" in log.read_text() and log.read_text(), 60,
                          "the demo to start")
        assert re.search(r"Login: admin / \S{8,} \(manager\)", text)
        odoo_url, odoo_db = re.search(r"Odoo \(simulator\): (\S+) database '(\w+)'", text).groups()
        remote_url, remote_db = re.search(
            r"External Odoo of Odoo2odoo \(simulator\): (\S+) database '(\w+)'", text).groups()
        hook = re.search(r"Telegram webhook: (\S+)", text).group(1)
        assert hook.startswith(f"http://127.0.0.1:{port}/webhooks/")

        update = {"update_id": 1, "message": {"message_id": 7, "text": "Hi, where is my order?",
                                              "from": {"id": 4242, "first_name": "Ann"}}}
        request = urllib.request.Request(hook, data=json.dumps(update).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.loads(response.read()) == {"ok": True}

        odoo = xmlrpc.client.ServerProxy(f"{odoo_url}/xmlrpc/2/object")
        [partner] = odoo.execute_kw(odoo_db, 2, "admin", "res.partner", "search_read",
                                    [[("ref", "=", "4242@telegram")], ["name"]])
        assert partner["name"] == "Telegram: Ann"
        # The Odoo2odoo project's DB trigger pushes the new partner to the external Odoo.
        remote = xmlrpc.client.ServerProxy(f"{remote_url}/xmlrpc/2/object")
        wait_until(lambda: remote.execute_kw(remote_db, 2, "admin", "res.partner",
                                             "search_count", [[("name", "=", "Telegram: Ann")]]),
                   30, "the partner to reach the external Odoo")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert "Traceback" not in log.read_text()


def _tree(root):
    """Every file under ``root`` with its bytes and mode."""
    return {str(path.relative_to(root)): (path.read_bytes(), path.stat().st_mode)
            for path in sorted(root.rglob("*")) if path.is_file()}


def test_demo_leaves_an_existing_installation_untouched(tmp_path):
    """The demo runs in a home of its own: the user's ./var (database, key, logins) and
    SYNCSTUDIO_* data settings are never used, and its temporary home is removed at the end."""
    installation = tmp_path / "work"
    installation.mkdir()
    env = {**os.environ, "SYNCSTUDIO_HOME": str(installation / "var"), "TMPDIR": str(tmp_path)}
    for name in ("SYNCSTUDIO_DATABASE_URL", "SYNCSTUDIO_BROKER_URL", "SYNCSTUDIO_SECRET_KEY"):
        env.pop(name, None)
    made = subprocess.run([*CLI, "user", "add", "admin", "--role", "manager"], env=env,
                          cwd=installation, input="own-password\nown-password\n",
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    before = _tree(installation)
    assert any(name.endswith("syncstudio.sqlite3") for name in before)

    port = free_port()
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        process = subprocess.Popen([*CLI, "demo", "--port", str(port)], env=env,
                                   cwd=installation, stdout=out, stderr=subprocess.STDOUT)
    try:
        text = wait_until(lambda: "Dashboard:" in log.read_text() and log.read_text(), 60,
                          "the demo to start")
        demo_home = re.search(r"Demo data in (\S+)", text).group(1)
        assert not demo_home.startswith(str(installation))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as answer:
            assert answer.status == 200
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    assert _tree(installation) == before
    assert not os.path.exists(demo_home), "the demo's temporary home is removed when it stops"
    assert "Traceback" not in log.read_text()


def test_busy_ports_are_one_line_errors_before_anything_starts(tmp_path):
    env = {**os.environ, "SYNCSTUDIO_HOME": str(tmp_path / "var")}
    env.pop("SYNCSTUDIO_DATABASE_URL", None)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        for command in (["demo", "--port", port], ["run", "--port", port],
                        ["web", "--port", port, "--processes", "1"], ["odoo-sim", "--port", port]):
            done = subprocess.run([*CLI, *command], env=env, capture_output=True, text=True,
                                  timeout=60)
            assert done.returncode == 1, (command, done.stdout, done.stderr)
            assert done.stderr.strip() == (f"Error: port {port} on 127.0.0.1 is in use: stop what "
                                           "listens there or pass --port with another port")
            assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "var").exists(), "nothing is set up before the port is checked"


def test_odoo2odoo_pull_changes_cron_updates_a_linked_partner(settings, sqlite_db, odoo_sim):
    """The bundled Odoo2odoo project's cron, with one partner linked, through the real sandbox:
    it formats the links' sync date (strftime), asks the external Odoo for what changed since
    and copies the image back."""
    import datetime as dt
    import uuid

    import yaml
    from sqlalchemy import update

    from connector.demo import project_text
    from connector.simulator import OdooSimulator
    from connector.store.models import Link
    from tests.runtime.product import import_project, run_trigger

    remote = OdooSimulator(database="remote", demo=False, login_cost=0)
    remote.start(host="127.0.0.1", port=0)
    remote_url = remote.url
    try:
        data = yaml.safe_load(project_text("odoo2odoo.yml", {
            "ODOO_URL": odoo_sim.url, "ODOO_DB": odoo_sim.database,
            "REMOTE_URL": remote_url, "REMOTE_DB": remote.database}))
        data["name"] = f"Demo Odoo2odoo {uuid.uuid4().hex[:8]}"
        import_project(settings, sqlite_db, data, environ={
            "SYNCSTUDIO_DEMO_ODOO_PASSWORD": "admin", "SYNCSTUDIO_DEMO_REMOTE_LOGIN": "admin",
            "SYNCSTUDIO_DEMO_REMOTE_PASSWORD": "admin"})
        local = xmlrpc.client.ServerProxy(f"{odoo_sim.url}/xmlrpc/2/object")
        partner_id = local.execute_kw(odoo_sim.database, 2, "admin", "res.partner", "create",
                                      [{"name": f"Linked {data['name']}"}])
        pushed = run_trigger(settings, sqlite_db, data["name"], "ON_PARTNER_CREATED",
                             args=("res.partner", [partner_id]))
        assert pushed.state == "done", pushed.error
        with sqlite_db.session() as session:
            [remote_ref] = session.scalars(
                update(Link).where(Link.ref1 == str(partner_id))
                .values(sync_date=dt.datetime(2000, 1, 1)).returning(Link.ref2)).all()
            session.commit()
        # A one-pixel PNG, set on the external side after the (back-dated) link.
        image = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAA"
                 "SUVORK5CYII=")
        rpc = xmlrpc.client.ServerProxy(f"{remote_url}/xmlrpc/2/object")
        rpc.execute_kw(remote.database, 2, "admin", "res.partner", "write",
                       [[int(remote_ref)], {"image_1920": image}])

        pulled = run_trigger(settings, sqlite_db, data["name"], "PULL_CHANGES")
    finally:
        remote.stop()
    assert pulled.state == "done", (pulled.error, pulled.traceback)
    assert pulled.logs[-1] == f"1 partner(s) updated from {remote_url}"
    [row] = local.execute_kw(odoo_sim.database, 2, "admin", "res.partner", "read",
                             [[partner_id], ["image_1920"]])
    assert row["image_1920"] == image
