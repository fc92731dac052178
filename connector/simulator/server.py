"""The HTTP server: routes, keep-alive, the "down" and "latency" controls.

A threaded standard-library server is enough and gives direct control of the socket:
while the simulator is "down" every RPC connection is reset without an answer (clients see
a connection error, never an HTTP 500), but ``/sim/control`` keeps answering so a test or
another process can bring it back up.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import time
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from . import protocol_xmlrpc
from .controls import handle_control
from .protocol_json2 import Json2, version_body
from .protocol_jsonrpc import JsonRpc

XMLRPC_PREFIXES = ("/xmlrpc/2/", "/xmlrpc/")
JSON2_PREFIX = "/json/2"


class SimulatorServer(ThreadingHTTPServer):
    """One listening socket serving one simulator."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, sim, address) -> None:
        self.sim = sim
        self.jsonrpc = JsonRpc(sim)
        self.json2 = Json2(sim)
        super().__init__(address, RequestHandler)


class RequestHandler(BaseHTTPRequestHandler):
    """Routes one HTTP request (keep-alive connections serve several)."""

    server: SimulatorServer
    protocol_version = "HTTP/1.1"
    server_version = "Werkzeug/3.0.1"
    sys_version = "Python/3.11"

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass  # tests and benchmarks do not want a line per request

    def do_GET(self) -> None:  # noqa: N802 - the base class's naming
        path = urlsplit(self.path).path
        if path == "/sim/control":
            self._json(200, {"ok": True, "down": self.server.sim.is_down})
            return
        if self._dropped():
            return
        if path == "/web/health":
            self._json(200, {"status": "pass"})
        elif self.server.sim.json2_enabled and path in ("/web/version", "/json/version"):
            self._json(200, version_body())
        elif self.server.sim.json2_enabled and self._is_json2(path):
            self._json(404, {"name": "werkzeug.exceptions.NotFound",
                             "message": "Did you mean POST /json/2/<model>/<method>?",
                             "arguments": [], "context": {}, "debug": ""})
        elif path in ("/", "/web", "/web/login"):
            self._send(200, b"<html><body>Odoo 17 simulator</body></html>",
                       "text/html; charset=utf-8")
        else:
            self._not_found()

    def do_POST(self) -> None:  # noqa: N802 - the base class's naming
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        sim = self.server.sim
        if path == "/sim/control":
            self._control(body)
            return
        if self._dropped():
            return
        if sim.latency:
            time.sleep(sim.latency)
        for prefix in XMLRPC_PREFIXES:
            if path.startswith(prefix):
                service = path[len(prefix):].strip("/")
                answer = protocol_xmlrpc.handle(sim.services, service, body)
                self._send(200, answer, "text/xml; charset=utf-8")
                return
        if self._is_json2(path):
            if not sim.json2_enabled:
                self._not_found()
                return
            status, payload = self.server.json2.handle(path, self.headers, body)
            self._json(status, payload)
            return
        cookie = SimpleCookie(self.headers.get("Cookie") or "")
        sid = cookie["session_id"].value if "session_id" in cookie else None
        status, answer, set_cookie = self.server.jsonrpc.handle(path, body, sid)
        if answer is None:
            self._not_found()
            return
        headers = {"Set-Cookie": set_cookie} if set_cookie else {}
        self._json(status, answer, headers)

    # -- helpers ----------------------------------------------------------------------

    @staticmethod
    def _is_json2(path: str) -> bool:
        return path == JSON2_PREFIX or path.startswith(JSON2_PREFIX + "/")

    def _dropped(self) -> bool:
        """Reset the connection without an answer while the simulator is down."""
        if not self.server.sim.is_down:
            return False
        self.close_connection = True
        with contextlib.suppress(OSError):
            # Linger 0 turns the close into a reset: the client's request fails outright.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        return True

    def _control(self, body: bytes) -> None:
        try:
            payload = json.loads(body or b"{}")
            answer = handle_control(self.server.sim, payload)
            self._json(200, answer)
        except Exception as exc:  # a bad control request must not kill the handler
            self._json(400, {"ok": False, "error": f"{type(exc).__name__}: {exc}"})

    def _json(self, status: int, payload, headers: dict | None = None) -> None:
        # default=str: a stray date or bytes value must not cost the client its answer.
        data = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
        self._send(status, data, "application/json; charset=utf-8", headers)

    def _not_found(self) -> None:
        self._send(404, b"<!doctype html><title>404 Not Found</title><h1>Not Found</h1>",
                   "text/html; charset=utf-8")

    def _send(self, status: int, data: bytes, content_type: str,
              headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


def make_server(sim, host: str, port: int) -> SimulatorServer:
    """A server bound to (host, port) for ``sim``, not yet serving."""
    return SimulatorServer(sim, (host, port))
