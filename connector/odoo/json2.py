"""Odoo 19's External JSON-2 API: ``POST /json/2/<model>/<method>`` with a bearer API key.

The API key is the connection's password field; it goes in the ``Authorization`` header of
each request and nowhere else (not in URLs, messages, reprs or logs). ``X-Odoo-Database``
carries the database name. The body is a JSON object of named arguments (``ids`` and
``context`` are special), the answer is the method's result as plain JSON, and an error is a
4xx/5xx status with ``{"name", "message", "arguments", "context", "debug"}``.

``execute_kw(model, method, args, kwargs)`` keeps the XML-RPC calling convention of the other
clients: positional ``args`` of the methods the product uses are given their Odoo 19 names
(record methods take the ids first, as in ``execute_kw``). Login is ``res.users/context_get``,
whose answer holds the uid of the key's user (the connection's login is not checked against
it). ``version`` reads ``GET /web/version``. One keep-alive ``http.client`` connection per
thread; a connection the server closed while idle is replaced before sending, never after.
"""

from __future__ import annotations

import http.client
import json
import logging
import select
import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from connector.odoo import errors
from connector.odoo.base import OdooClient

log = logging.getLogger("connector.odoo.json2")
USER_AGENT = "syncstudio-json2"

#: ``@api.model`` methods: Odoo 19 names of their positional parameters.
MODEL_METHODS: dict[str, tuple[str, ...]] = {
    "search": ("domain", "offset", "limit", "order"),
    "search_read": ("domain", "fields", "offset", "limit", "order"),
    "search_count": ("domain", "limit"),
    "create": ("vals_list",),
    "fields_get": ("allfields", "attributes"),
    "name_search": ("name", "domain", "operator", "limit"),
    "read_group": ("domain", "fields", "groupby", "offset", "limit", "orderby", "lazy"),
    "context_get": (),
}
#: Record methods (ids first in ``execute_kw``): names of the positional parameters after them.
RECORD_METHODS: dict[str, tuple[str, ...]] = {
    "read": ("fields", "load"),
    "write": ("vals",),
    "unlink": (),
    "copy": ("default",),
    "exists": (),
    "message_post": (),
}
#: Keyword arguments Odoo 17 callers use that Odoo 19 renamed.
RENAMED_KWARGS: dict[str, dict[str, str]] = {"name_search": {"args": "domain"}}


def _bad_arguments(model: str, method: str, detail: str) -> errors.OdooServerError:
    return errors.OdooServerError(
        f"JSON-2 passes arguments by name: {detail}; pass them in kwargs",
        name="builtins.TypeError", model=model, method=method)


def _ids(value: Any) -> list[Any]:
    return [value] if isinstance(value, int) else list(value or [])


def json2_body(model: str, method: str, args: list[Any],
               kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON-2 request body of ``execute_kw(model, method, args, kwargs)``."""
    body: dict[str, Any] = {}
    renamed = RENAMED_KWARGS.get(method, {})
    named = {renamed.get(key, key): value for key, value in kwargs.items()}
    if method in RECORD_METHODS:
        names = RECORD_METHODS[method]
        if args:
            body["ids"] = _ids(args[0])
            args = args[1:]
    elif method in MODEL_METHODS:
        names = MODEL_METHODS[method]
    else:
        # Another method: the first argument are the ids (execute_kw's convention for
        # record methods); anything more needs names JSON-2 cannot guess.
        names = ()
        if args:
            body["ids"] = _ids(args[0])
            args = args[1:]
    if len(args) > len(names):
        raise _bad_arguments(model, method, f"{model}.{method} takes at most {len(names)} "
                             f"positional argument(s) here, got {len(args)}")
    for name, value in zip(names, args, strict=False):
        if name in named:
            raise _bad_arguments(model, method,
                                 f"argument {name!r} is given both by position and by name")
        body[name] = value
    if "ids" in named:
        body["ids"] = _ids(named.pop("ids"))
    body.update(named)
    return body


class _Conn:
    """One thread's keep-alive HTTP connection (holds no credentials)."""

    def __init__(self, connection: http.client.HTTPConnection) -> None:
        self.http = connection

    def fresh(self) -> http.client.HTTPConnection:
        """The connection, closed first when the server dropped it while it was idle."""
        sock = self.http.sock
        if sock is not None:
            try:
                readable = select.select([sock], [], [], 0)[0]
            except (OSError, ValueError):
                readable = [sock]
            if readable:  # an idle keep-alive socket is readable only once the peer closed it
                self.http.close()
        return self.http


class Json2Client(OdooClient):
    """Odoo client speaking Odoo 19's JSON-2 API (``json2``, or ``json2s`` over https)."""

    PROTOCOL_NAMES = ("json2", "json2s")

    # -- transport ------------------------------------------------------------------------

    def _connect(self) -> _Conn:
        conn: http.client.HTTPConnection
        if self.scheme == "https":
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                               context=ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return _Conn(conn)

    def _disconnect(self, conn: _Conn) -> None:
        conn.http.close()

    def _headers(self, with_key: bool) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT,
                   "X-Odoo-Database": self.database}
        if with_key:
            headers["Content-Type"] = "application/json; charset=utf-8"
            headers["Authorization"] = f"bearer {self._password.reveal()}"
        return headers

    def _request(self, conn: _Conn, verb: str, path: str, body: bytes | None,
                 what: str) -> tuple[int, str, bytes]:
        """Send one request; (status, reason, body). Transport errors become OdooUnreachable."""
        http_conn = conn.fresh()
        try:
            http_conn.request(verb, self.path + path, body=body,
                              headers=self._headers(body is not None))
            response = http_conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            http_conn.close()
            raise errors.transport_error(exc, self.url, what, self.timeout) from exc
        log.debug("odoo json2 %s %s -> HTTP %s", verb, path, response.status)
        return response.status, response.reason, data

    def _not_json2(self, what: str) -> errors.OdooUnreachable:
        return errors.OdooUnreachable(
            f"{errors.public_url(self.url)} did not answer {what} with Odoo's JSON-2 API — is "
            "the URL an Odoo 19 (or later) server?", kind="protocol", retryable=False)

    def _error(self, status: int, reason: str, data: bytes, what: str, model: str | None,
               method: str | None) -> errors.OdooError:
        """The product error for an HTTP error answer of Odoo (or of something else)."""
        try:
            payload = json.loads(data)
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("name"), str):
            if status == 404:
                return errors.OdooUnreachable(
                    f"{errors.public_url(self.url)} has no Odoo JSON-2 API for {what} (HTTP "
                    "404) — JSON-2 needs Odoo 19 or later: check the URL, or use the jsonrpc or "
                    "xmlrpc protocol", kind="http", retryable=False)
            return errors.http_status_error(status, reason, self.url, what)
        name = payload["name"]
        message = str(payload.get("message") or reason)
        debug = payload.get("debug")
        if status == 401 or name == "werkzeug.exceptions.Unauthorized":
            return errors.AuthenticationError(
                f"Odoo at {errors.public_url(self.url)} refused the API key for {what} "
                f"({' '.join(message.split())}) — check the API key (the connection's "
                "password) and the database name")
        if name == "werkzeug.exceptions.NotFound":  # unknown model or method
            return errors.OdooUserError(message, name=name, model=model, method=method,
                                        traceback=debug if isinstance(debug, str) else None)
        return errors.from_odoo(name, message, model=model, method=method,
                                traceback=debug if isinstance(debug, str) and debug else None)

    def _post(self, conn: _Conn, model: str, method: str, body: dict[str, Any]) -> Any:
        what = f"{model}.{method}"
        path = f"/json/2/{quote(model, safe='.')}/{quote(method, safe='')}"
        data = json.dumps(body).encode("utf-8")
        status, reason, answer = self._request(conn, "POST", path, data, what)
        if status != 200:
            raise self._error(status, reason, answer, what, model, method)
        try:
            return json.loads(answer)
        except ValueError:
            raise self._not_json2(what) from None

    # -- the primitives -------------------------------------------------------------------

    def _rpc_version(self, conn: _Conn) -> dict[str, Any]:
        status, reason, data = self._request(conn, "GET", "/web/version", None, "version")
        if status != 200:
            raise self._error(status, reason, data, "version", None, None)
        try:
            info = json.loads(data)
        except ValueError:
            raise self._not_json2("version") from None
        if not isinstance(info, dict) or "version" not in info:
            raise self._not_json2("version")
        return {**info, "server_version": info["version"],
                "server_version_info": info.get("version_info")}

    def _rpc_login(self, conn: _Conn) -> Any:
        try:
            context = self._post(conn, "res.users", "context_get", {})
        except errors.AuthenticationError:
            return False
        uid = context.get("uid") if isinstance(context, dict) else None
        if isinstance(uid, int) and not isinstance(uid, bool):
            return uid
        # A server whose context_get leaves the uid out: the user with the login.
        ids = self._post(conn, "res.users", "search",
                         {"domain": [["login", "=", self.login]], "limit": 1})
        return ids[0] if ids else False

    def _rpc_execute_kw(self, conn: _Conn, uid: int, model: str, method: str,
                        args: list[Any], kwargs: dict[str, Any]) -> Any:
        return self._post(conn, model, method, json2_body(model, method, args, kwargs))
