"""`syncstudio web` as a real server: one process (waitress) and several (gunicorn)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

CLI = [sys.executable, "-c", "from connector.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str, data: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2])
def test_web_serves_health_and_webhooks(app, settings, tokens, processes):
    port = free_port()
    env = {**os.environ, "SYNCSTUDIO_HOME": str(settings.home),
           "SYNCSTUDIO_DATABASE_URL": settings.database_url}
    server = subprocess.Popen([*CLI, "web", "--port", str(port), "--processes", str(processes)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, body = get(f"http://127.0.0.1:{port}/health")
                break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()
                assert time.monotonic() < deadline, "the web server did not start"
                time.sleep(0.1)
        assert (status, json.loads(body)["status"]) == (200, "ok")
        status, body = get(f"http://127.0.0.1:{port}/webhooks/{tokens['JSON_HOOK']}",
                           b'{"a": 1}')
        assert status == 200 and json.loads(body) == {"echo": {"a": 1}, "greeting": "hello"}
        status, _body = get(f"http://127.0.0.1:{port}/webhooks/nope", b"{}")
        assert status == 404
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
    assert server.returncode is not None


@pytest.mark.slow
def test_metrics_pool_the_counts_of_every_web_process(app, settings, tokens):
    from prometheus_client.parser import text_string_to_metric_families

    port = free_port()
    env = {**os.environ, "SYNCSTUDIO_HOME": str(settings.home),
           "SYNCSTUDIO_DATABASE_URL": settings.database_url}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = subprocess.Popen([*CLI, "web", "--port", str(port), "--processes", "2"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                get(f"http://127.0.0.1:{port}/health")
                break
            except OSError:
                assert time.monotonic() < deadline, "the web server did not start"
                time.sleep(0.1)
        for _ in range(20):
            status, _body = get(f"http://127.0.0.1:{port}/webhooks/{tokens['JSON_HOOK']}",
                                b'{"a": 1}')
            assert status == 200

        def answered() -> float:
            _status, body = get(f"http://127.0.0.1:{port}/metrics")
            for family in text_string_to_metric_families(body.decode()):
                for sample in family.samples:
                    if sample.name == "syncstudio_webhook_requests_total" and \
                            sample.labels.get("status") == "200":
                        return sample.value
            return 0.0

        # Whichever process answers the scrape, it reports all 20 requests.
        assert [answered() for _ in range(6)] == [20.0] * 6
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
