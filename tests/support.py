"""Helpers shared by test modules (fixtures live in the conftest files)."""

from __future__ import annotations

import http.server
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from connector import jobs
from connector.store.db import Database
from connector.store.models import Trigger

RABBITMQ_URL = os.environ.get("SYNCSTUDIO_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672/")


class LocalApi(http.server.ThreadingHTTPServer):
    """A local HTTP API on a free loopback port, answering every GET and POST with
    :meth:`answer` (override it) and recording each request in ``received``."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = {"path": self.path, "headers": dict(self.headers),
                           "body": body.decode("utf-8", "replace")}
                outer.received.append(request)
                status, payload = outer.answer(request)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer  # noqa: N815 - http.server's naming

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, request: dict[str, Any]) -> tuple[int, bytes]:
        """Status and JSON body for ``request`` (path, headers, body)."""
        return 200, b"{}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


def require_service(name: str, check: Callable[[], Any]) -> None:
    """Skip when ``check`` fails on a laptop; fail when ``CI`` is set.

    Dramatiq's rule for real services: a test whose service is missing is skipped on a
    developer's machine, but CI can never pass by skipping.
    """
    try:
        check()
    except Exception as exc:  # any failure means the service is not usable
        message = f"{name} is not reachable ({type(exc).__name__}: {exc})"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run every test against real services")
        pytest.skip(message)


def require_rabbitmq() -> str:
    """The URL of the real RabbitMQ (see :func:`require_service`)."""
    import pika

    require_service("RabbitMQ",
                    lambda: pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL)).close())
    return RABBITMQ_URL


def wait_until(condition: Callable[[], Any], timeout: float, what: str,
               interval: float = 0.02) -> Any:
    """Poll ``condition`` until it is truthy and return its value; fail after ``timeout``
    seconds, naming ``what`` was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout:g}s waiting for {what}"
        time.sleep(interval)


def record_jobs(db: Database, trigger_name: str, count: int = 1) -> list[int]:
    """Record ``count`` jobs of a button trigger, as clicks on it would; returns their ids."""
    with db.session() as session:
        trigger = session.scalars(select(Trigger).where(Trigger.trigger_name == trigger_name)).one()
        return [jobs.record_trigger_job(session, trigger).id for _ in range(count)]


def delete_keys(client: Any, namespace: str) -> None:
    """Delete every Redis key of a broker namespace (and none of anyone else's)."""
    keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
    if keys:
        client.delete(*keys)


def fast_hash(password: str) -> str:
    """A password hash that is cheap to make and check, for the tests' dashboard users.

    werkzeug's default (scrypt) costs about 0.14 s per hash and per login, which is right for
    an installation and adds up to minutes over the suite; the login code reads the method
    from the hash, so it checks these as it checks any other.
    """
    from werkzeug.security import generate_password_hash

    return generate_password_hash(password, method="pbkdf2:sha256:1000")
