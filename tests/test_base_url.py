"""Webhook URLs are the same from every process: the web process records the address it
answers on, and a button run from another shell hands out that URL, not its own default."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner

from connector import installation
from connector.cli import main
from connector.settings import Settings
from tests.support import wait_until

CLI = [sys.executable, "-c", "from connector.cli import main; main()"]

PROJECT = """
name: Hooks
odoo: {url: "http://127.0.0.1:9", database: x, login: admin, password: pw, protocol: jsonrpc}
tasks:
  - name: Tell the hook
    code: |
      def handle_button():
          log("register " + webhooks.INCOMING)
      def handle_webhook(httprequest):
          return {"ok": True}
    triggers:
      button: [{trigger_name: SHOW}]
      webhook: [{trigger_name: INCOMING, type: json}]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_configured_url_wins_else_the_recorded_one(db):
    own = Settings.from_env({"SYNCSTUDIO_HOME": "/tmp/x", "SYNCSTUDIO_WEB_PORT": "18000"})
    other = Settings.from_env({"SYNCSTUDIO_HOME": "/tmp/x"})
    with db.session() as session:
        assert installation.base_url(session, other) == "http://127.0.0.1:8000"
    installation.record_base_url(db, own)
    with db.session() as session:
        assert installation.base_url(session, other) == "http://127.0.0.1:18000"
        configured = Settings.from_env({"SYNCSTUDIO_HOME": "/tmp/x",
                                        "SYNCSTUDIO_BASE_URL": "https://hooks.example.com/"})
        assert installation.base_url(session, configured) == "https://hooks.example.com"
    installation.record_base_url(db, configured)
    with db.session() as session:
        assert installation.base_url(session, other) == "https://hooks.example.com"


@pytest.mark.slow
def test_a_button_run_from_another_shell_uses_the_web_process_address(tmp_path):
    env = {**os.environ, "SYNCSTUDIO_HOME": str(tmp_path / "var")}
    for name in ("SYNCSTUDIO_DATABASE_URL", "SYNCSTUDIO_BROKER_URL", "SYNCSTUDIO_BASE_URL",
                 "SYNCSTUDIO_WEB_PORT"):
        env.pop(name, None)
    project = tmp_path / "hooks.yml"
    project.write_text(PROJECT)
    runner = CliRunner()
    imported = runner.invoke(main, ["project", "import", "--no-check", str(project)], env=env)
    assert imported.exit_code == 0, imported.output

    # A shell that knows nothing of the web process runs the button before any web started...
    before = runner.invoke(main, ["trigger", "run", "Hooks", "SHOW"], env=env)
    assert "register http://127.0.0.1:8000/webhooks/" in before.output, before.output

    port = free_port()
    log = tmp_path / "web.log"
    with log.open("wb") as out:
        web = subprocess.Popen([*CLI, "web", "--port", str(port), "--processes", "1"], env=env,
                               stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "Dashboard:" in log.read_text(), 60, "the web process")
        # ...and after: it now hands out the address the web process answers on.
        after = runner.invoke(main, ["trigger", "run", "Hooks", "SHOW"], env=env)
        assert f"register http://127.0.0.1:{port}/webhooks/" in after.output, after.output
    finally:
        web.send_signal(signal.SIGINT)
        web.wait(timeout=30)
