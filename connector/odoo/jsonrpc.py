"""Odoo over JSON-RPC, through odoorpc's low-level ``ODOO.json`` (never its record layer).

Calls go to ``/jsonrpc`` (``common.login``, ``object.execute_kw``) with the credentials in every
request, so no web session has to be kept alive; ``version`` reads
``/web/webclient/version_info``. Each thread gets its own ``odoorpc.ODOO`` object.
"""

from __future__ import annotations

import copy
import http.client
import json
import logging
import urllib.error
from typing import Any, NoReturn

import odoorpc
import odoorpc.error

from connector.errors import ConfigurationError
from connector.odoo import errors
from connector.odoo.base import OdooClient
from connector.settings import Secret

_MASK = "**********"


class _RedactPasswords(logging.Filter):
    """Mask passwords in odoorpc's debug log lines (it only hides a ``password`` key)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, dict) and "data" in record.args:
            record.args = dict(record.args, data=_redact(copy.deepcopy(record.args["data"])))
        return True


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        params = value.get("params")
        if isinstance(params, dict):
            args = params.get("args")
            if params.get("service") and isinstance(args, list) and len(args) >= 3:
                args[2] = _MASK
            if "password" in params:
                params["password"] = _MASK
    return value


_log_filter = _RedactPasswords()
for _name in ("odoorpc.rpc.jsonrpclib", "odoorpc"):
    logging.getLogger(_name).addFilter(_log_filter)


class JsonRpcClient(OdooClient):
    """Odoo client speaking JSON-RPC (``jsonrpc``, or ``jsonrpc+ssl`` over https)."""

    PROTOCOL_NAMES = ("jsonrpc", "jsonrpc+ssl")

    def __init__(self, url: str, database: str, login: str, password: str | Secret, *,
                 ssl: bool = False, timeout: float = 30.0, retry_delay: float = 0.2,
                 uid: int | None = None) -> None:
        super().__init__(url, database, login, password, ssl=ssl, timeout=timeout,
                         retry_delay=retry_delay, uid=uid)
        if self.path:
            raise ConfigurationError(
                f"Odoo URL {self.url!r}: odoorpc cannot use a path in the URL; remove it or "
                "use the xmlrpc protocol")
        self._server_version: str | None = None

    def _connect(self) -> odoorpc.ODOO:
        host = f"[{self.host}]" if ":" in self.host else self.host
        try:
            odoo = odoorpc.ODOO(host, protocol=self.protocol, port=self.port,
                                timeout=self.timeout, version=self._server_version)
        except odoorpc.error.RPCError as exc:
            raise self._map_rpc_error(exc, None, "version") from exc
        except Exception as exc:
            self._reraise(exc, "version")
        self._server_version = odoo.version
        return odoo

    def _call(self, conn: odoorpc.ODOO, path: str, params: dict[str, Any], what: str,
              model: str | None = None, method: str | None = None) -> Any:
        try:
            return conn.json(path, params).get("result")
        except odoorpc.error.RPCError as exc:
            raise self._map_rpc_error(exc, model, method or what) from exc
        except Exception as exc:
            self._reraise(exc, what)

    def _reraise(self, exc: Exception, what: str) -> NoReturn:
        """Raise the product error for a transport or decoding error; caller bugs stay as is."""
        if isinstance(exc, urllib.error.URLError | OSError | http.client.HTTPException):
            raise errors.transport_error(exc, self.url, what, self.timeout) from exc
        if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError | KeyError | AttributeError):
            raise errors.OdooUnreachable(
                f"{errors.public_url(self.url)} did not answer {what} with Odoo JSON-RPC — is "
                "the URL an Odoo server?", kind="protocol", retryable=False) from exc
        raise exc

    def _map_rpc_error(self, exc: odoorpc.error.RPCError, model: str | None,
                       method: str) -> errors.OdooError:
        info: dict[str, Any] = exc.info if isinstance(exc.info, dict) else {}
        data: dict[str, Any] = info["data"] if isinstance(info.get("data"), dict) else {}
        name = str(data.get("name") or "")
        message = str(data.get("message") or info.get("message") or exc)
        if name == "werkzeug.exceptions.NotFound":
            return errors.http_status_error(404, "Not Found", self.url, method)
        return errors.from_odoo(name, message, model=model, method=method,
                                traceback=data.get("debug"))

    def _rpc_version(self, conn: odoorpc.ODOO) -> dict[str, Any]:
        return dict(self._call(conn, "/web/webclient/version_info", {}, "version") or {})

    def _rpc_login(self, conn: odoorpc.ODOO) -> Any:
        params = {"service": "common", "method": "login",
                  "args": [self.database, self.login, self._password.reveal()]}
        return self._call(conn, "/jsonrpc", params, "login")

    def _rpc_execute_kw(self, conn: odoorpc.ODOO, uid: int, model: str, method: str,
                        args: list[Any], kwargs: dict[str, Any]) -> Any:
        params = {"service": "object", "method": "execute_kw",
                  "args": [self.database, uid, self._password.reveal(), model, method,
                           args, kwargs]}
        return self._call(conn, "/jsonrpc", params, f"{model}.{method}", model, method)
