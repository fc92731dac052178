"""Version, authentication, test_connection and transport failures, on both protocols."""

from __future__ import annotations

import http.server
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from connector.odoo import OdooClient, errors, make_client

SECRET = "Zq8-not-the-real-pw-41"


def test_version(client: OdooClient) -> None:
    info = client.version()
    assert info["server_version_info"][0] == 17
    assert str(info["server_version"]).startswith("17")


def test_authenticate_and_lazy_uid(client: OdooClient, connect: Any) -> None:
    assert client.authenticate() == 2
    assert client.uid == 2
    lazy = connect()
    assert lazy.uid == 2  # no explicit authenticate() needed
    assert "uid=2" in repr(lazy)


def test_test_connection_reports_version_and_user(client: OdooClient) -> None:
    report = client.test_connection()
    assert report["uid"] == 2
    assert str(report["server_version"]).startswith("17")
    names = client.read("res.users", [2], ["name"])
    assert report["user"] == names[0]["name"] and report["user"]


def test_bad_password_is_a_one_line_authentication_error(connect: Any) -> None:
    client = connect(password=SECRET)
    with pytest.raises(errors.AuthenticationError) as info:
        client.authenticate()
    message = str(info.value)
    assert "\n" not in message
    assert "'admin'" in message and "odootest" in message and "password" in message
    assert SECRET not in message and SECRET not in repr(info.value)
    # every call authenticates first, so a call fails the same way
    with pytest.raises(errors.AuthenticationError):
        client.search("res.partner", [])


def test_bad_database_is_an_authentication_error(connect: Any) -> None:
    client = connect(database="no_such_db")
    with pytest.raises(errors.AuthenticationError, match="no_such_db"):
        client.authenticate()


def test_password_changed_after_login_relogs_then_fails_clearly(connect: Any,
                                                                caplog: Any) -> None:
    client = connect(password=SECRET)
    client._uid = 2  # as if the login had worked before the password changed in Odoo
    caplog.set_level(logging.DEBUG)
    with pytest.raises(errors.AuthenticationError) as info:
        client.search("res.partner", [])
    assert client._uid is None
    assert "refused login 'admin'" in str(info.value)  # the re-login said so
    assert SECRET not in caplog.text
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    if client.protocol == "jsonrpc":  # odoorpc logs every request at DEBUG: masked
        assert "execute_kw" in caplog.text and "**********" in caplog.text


def test_server_error_text_is_scrubbed_of_the_password(connect: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    client = connect(password=SECRET)
    client._uid = 2

    def echoing(*args: Any) -> Any:
        raise errors.OdooServerError(f"bad value {SECRET!r}", name="builtins.ValueError",
                                     traceback=f"args: {SECRET}")

    monkeypatch.setattr(client, "_rpc_execute_kw", echoing)
    with pytest.raises(errors.OdooServerError) as info:
        client.search("res.partner", [])
    exc = info.value
    assert SECRET not in str(exc) and SECRET not in repr(exc)
    assert SECRET not in exc.message and SECRET not in str(exc.traceback)
    assert "bad value" in str(exc)


def test_unreachable_port(protocol: str, free_port: int) -> None:
    url = f"http://127.0.0.1:{free_port}"
    client = make_client(url=url, database="odootest", login="admin", password=SECRET,
                         protocol=protocol, timeout=2.0, retry_delay=0.01)
    with pytest.raises(errors.OdooUnreachable) as info:
        client.version()
    message = str(info.value)
    assert message.startswith(f"cannot reach Odoo at {url}: connection refused")
    assert "is the server running" in message and "\n" not in message
    assert info.value.kind == "refused"
    with pytest.raises(errors.OdooUnreachable):
        client.search("res.partner", [])


@pytest.fixture
def not_odoo() -> Iterator[str]:
    """A web server that answers every POST with an HTML 404 page."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b"<html>not here</html>"
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_web_server_that_is_not_odoo(protocol: str, not_odoo: str) -> None:
    client = make_client(url=not_odoo, database="odootest", login="admin", password="admin",
                         protocol=protocol, timeout=2.0)
    with pytest.raises(errors.OdooUnreachable, match="HTTP 404") as info:
        client.version()
    assert info.value.retryable is False
    assert "check the URL" in str(info.value)


def test_tls_against_a_plain_http_server(sim: Any, protocol: str) -> None:
    client = make_client(url=f"https://127.0.0.1:{sim.port}", database=sim.database,
                         login="admin", password="admin", protocol=f"{protocol}s".replace(
                             "jsonrpcs", "jsonrpc+ssl"), timeout=2.0)
    with pytest.raises(errors.OdooUnreachable, match="TLS error") as info:
        client.version()
    assert info.value.kind == "tls"
