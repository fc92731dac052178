"""Bad environments give one line each, then a clean exit or a quiet back-off: an unreachable
broker, an unwritable home."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys

import pytest

from tests.support import wait_until
from worker.broker import QuietReconnects

CLI = [sys.executable, "-c", "from connector.cli import main; main()"]


def _record(message: str, name: str = "dramatiq.worker.ConsumerThread(syncstudio)",
            level: int = logging.CRITICAL) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


def test_reconnect_noise_becomes_one_line_per_outage_with_a_reminder():
    now = [0.0]
    quiet = QuietReconnects(remind_after=300, clock=lambda: now[0])
    error = "Consumer encountered a connection error: Error 111 connecting to 127.0.0.1:1."
    passed = []
    for second in range(0, 600, 3):
        now[0] = float(second)
        for record in (_record(error), _record("Restarting consumer in 3.00 seconds.",
                                               level=logging.INFO)):
            if quiet.filter(record):
                passed.append((second, record.levelname, record.getMessage()))
    assert passed == [
        (0, "WARNING", "broker unreachable (Error 111 connecting to 127.0.0.1:1.); consumers "
                       "keep retrying quietly"),
        (300, "WARNING", "broker unreachable (still unreachable after 300 s); consumers keep "
                         "retrying quietly"),
    ]
    # Other loggers are never touched; a consumer line that is not an error ends the outage.
    assert quiet.filter(_record(error, name="syncstudio.poller"))
    assert quiet.filter(_record("Consumer is ready", level=logging.INFO))
    now[0] = 601.0
    assert quiet.filter(_record(error))


@pytest.mark.slow
def test_worker_with_an_unreachable_broker_says_so_once(tmp_path):
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "SYNCSTUDIO_HOME": str(tmp_path / "var"),
           "SYNCSTUDIO_BROKER_URL": f"redis://127.0.0.1:{port}/0"}
    env.pop("SYNCSTUDIO_DATABASE_URL", None)
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen([*CLI, "worker", "--threads", "1"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "broker unreachable" in log.read_text(), 60, "the first line")
        # Dramatiq's consumers retry every 3 s: wait for two more rounds of retries.
        wait_until(lambda: process.poll() is not None or _elapsed(log) >= 7, 30, "retries")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    text = log.read_text()
    assert text.count("broker unreachable") == 1, text
    assert "CRITICAL" not in text and "Restarting consumer" not in text
    assert "Traceback" not in text


def _elapsed(path) -> float:
    import time

    return time.time() - path.stat().st_ctime


@pytest.mark.slow
def test_unwritable_home_is_one_line(tmp_path):
    """A home that cannot be created (its parent is a file: even root cannot write there)."""
    parent = tmp_path / "not-a-directory"
    parent.write_text("")
    home = parent / "var"
    env = {**os.environ, "SYNCSTUDIO_HOME": str(home)}
    for name in ("SYNCSTUDIO_DATABASE_URL", "SYNCSTUDIO_SECRET_KEY"):
        env.pop(name, None)
    for command in (["run", "--port", "0"],
                    ["user", "add", "x", "--role", "user", "--password", "long-password"]):
        done = subprocess.run([*CLI, *command], env=env, capture_output=True, text=True,
                              timeout=60, input="long-password\nlong-password\n")
        assert done.returncode == 1, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
        assert str(home) in lines[0] and "SYNCSTUDIO_HOME" in lines[0], lines[0]
