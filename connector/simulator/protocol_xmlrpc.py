"""XML-RPC (``/xmlrpc/2/<service>``) request decoding and response encoding."""

from __future__ import annotations

import base64
import xmlrpc.client
from datetime import date, datetime

from .errors import fault_of


def _from_wire(value):
    """Values xmlrpc.client decodes into types Odoo never hands to the ORM."""
    if isinstance(value, list):
        return [_from_wire(v) for v in value]
    if isinstance(value, dict):
        return {k: _from_wire(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def handle(services, service: str, body: bytes) -> bytes:
    """Answer one XML-RPC request body for ``service``; faults as Odoo 17 sends them."""
    try:
        params, method = xmlrpc.client.loads(body, use_builtin_types=True)
        result = services.dispatch(service, method, _from_wire(list(params)))
        # Odoo's results never hold None; allow_none only guards against surprises.
        return xmlrpc.client.dumps((result,), methodresponse=True, allow_none=True,
                                   encoding="utf-8").encode("utf-8")
    except Exception as exc:  # every error becomes a fault, as on the real server
        code, string = fault_of(exc)
        return xmlrpc.client.dumps(xmlrpc.client.Fault(code, string),
                                   encoding="utf-8").encode("utf-8")
