"""Odoo over XML-RPC (``/xmlrpc/2/common`` and ``/xmlrpc/2/object``) with ``xmlrpc.client``.

Odoo's XML-RPC faults carry a code and a string but not the exception name, so the name is
rebuilt: code 1 is a server error whose string is a traceback ending in ``Name: message``;
code 2 is a UserError (MissingError and ValidationError are recognised by their standard
messages); code 3 is AccessDenied (bad credentials); code 4 is AccessError.
"""

from __future__ import annotations

import dataclasses
import http.client
import re
import xmlrpc.client
from typing import Any
from xml.parsers.expat import ExpatError

from connector.odoo import errors
from connector.odoo.base import OdooClient

_EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*): ?(.*)$")
_EXC_NAME = re.compile(r"(\.|Error$|Exception$|Warning$|Denied$|Exit$|Interrupt$|Fault$)")
_MISSING = "does not exist or has been deleted"
_VALIDATION = "The operation cannot be completed"


class _Transport(xmlrpc.client.Transport):
    """HTTP transport honouring the client timeout (the stdlib one has none)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        conn = super().make_connection(host)
        conn.timeout = self.timeout
        return conn


class _SafeTransport(xmlrpc.client.SafeTransport):
    """HTTPS transport honouring the client timeout."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPSConnection:
        conn = super().make_connection(host)
        conn.timeout = self.timeout
        return conn


@dataclasses.dataclass(eq=False)
class _Conn:
    common: xmlrpc.client.ServerProxy
    object: xmlrpc.client.ServerProxy
    transport: xmlrpc.client.Transport


def parse_fault(code: Any, text: str) -> tuple[str, str]:
    """Return (Odoo exception name, message) for an XML-RPC fault of Odoo's ``/xmlrpc/2``."""
    if code == 3:
        return "odoo.exceptions.AccessDenied", text
    if code == 4:
        return "odoo.exceptions.AccessError", text
    if code == 2:
        if _MISSING in text:
            return "odoo.exceptions.MissingError", text
        if text.startswith(_VALIDATION):
            return "odoo.exceptions.ValidationError", text
        return "odoo.exceptions.UserError", text
    lines = text.rstrip().splitlines()
    for index in range(len(lines) - 1, -1, -1):
        match = _EXC_LINE.match(lines[index])
        if match and _EXC_NAME.search(match.group(1)):
            name = match.group(1)
            message = "\n".join([match.group(2), *lines[index + 1:]]).strip()
            return (name if "." in name else f"builtins.{name}"), message
    return "", text.strip()


class XmlRpcClient(OdooClient):
    """Odoo client speaking XML-RPC (``xmlrpc``, or ``xmlrpcs`` over https)."""

    PROTOCOL_NAMES = ("xmlrpc", "xmlrpcs")

    def _connect(self) -> _Conn:
        transport: xmlrpc.client.Transport
        if self.scheme == "https":
            transport = _SafeTransport(self.timeout)
        else:
            transport = _Transport(self.timeout)
        common = xmlrpc.client.ServerProxy(f"{self.url}/xmlrpc/2/common", transport=transport,
                                           allow_none=True)
        obj = xmlrpc.client.ServerProxy(f"{self.url}/xmlrpc/2/object", transport=transport,
                                        allow_none=True)
        return _Conn(common, obj, transport)

    def _disconnect(self, conn: _Conn) -> None:
        conn.transport.close()

    def _call(self, proxy: xmlrpc.client.ServerProxy, name: str, params: list[Any],
              model: str | None = None, method: str | None = None) -> Any:
        what = f"{model}.{method}" if model else name
        try:
            return getattr(proxy, name)(*params)
        except xmlrpc.client.Fault as exc:
            fault_name, message = parse_fault(exc.faultCode, str(exc.faultString))
            text = str(exc.faultString)
            raise errors.from_odoo(fault_name, message, model=model, method=method or name,
                                   traceback=text if text != message else None) from exc
        except xmlrpc.client.ProtocolError as exc:
            raise errors.http_status_error(exc.errcode, exc.errmsg, self.url, what) from exc
        except (xmlrpc.client.ResponseError, ExpatError) as exc:
            raise errors.OdooUnreachable(
                f"{errors.public_url(self.url)} did not answer {what} with Odoo XML-RPC — is "
                "the URL an Odoo server?", kind="protocol", retryable=False) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise errors.transport_error(exc, self.url, what, self.timeout) from exc

    def _rpc_version(self, conn: _Conn) -> dict[str, Any]:
        return dict(self._call(conn.common, "version", []) or {})

    def _rpc_login(self, conn: _Conn) -> Any:
        params = [self.database, self.login, self._password.reveal(), {}]
        return self._call(conn.common, "authenticate", params)

    def _rpc_execute_kw(self, conn: _Conn, uid: int, model: str, method: str,
                        args: list[Any], kwargs: dict[str, Any]) -> Any:
        params = [self.database, uid, self._password.reveal(), model, method, args, kwargs]
        return self._call(conn.object, "execute_kw", params, model, method)
