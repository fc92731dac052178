"""Build the right Odoo client for a protocol name."""

from __future__ import annotations

from connector.errors import ConfigurationError
from connector.odoo.base import OdooClient
from connector.odoo.json2 import Json2Client
from connector.odoo.jsonrpc import JsonRpcClient
from connector.odoo.xmlrpc import XmlRpcClient
from connector.settings import Secret

#: protocol name -> (client class, over TLS)
PROTOCOLS: dict[str, tuple[type[OdooClient], bool]] = {
    "jsonrpc": (JsonRpcClient, False),
    "jsonrpc+ssl": (JsonRpcClient, True),
    "xmlrpc": (XmlRpcClient, False),
    "xmlrpcs": (XmlRpcClient, True),
    "json2": (Json2Client, False),
    "json2s": (Json2Client, True),
}


def make_client(url: str, database: str, login: str, password: str | Secret,
                protocol: str = "jsonrpc", timeout: float = 30.0,
                retry_delay: float = 0.2, uid: int | None = None) -> OdooClient:
    """Return an Odoo client for ``protocol``; nothing is sent until the first call.

    ``url`` may carry the scheme and port (``http://host:8069``); the SSL protocols
    (``jsonrpc+ssl``, ``xmlrpcs``, ``json2s``) need an ``https://`` URL or a bare
    ``host:port``. With ``json2``/``json2s`` (Odoo 19+) ``password`` is the user's API key.
    ``uid``: a uid obtained by another client of the same credentials, so this one need not
    log in (a refused call still logs in once and retries).
    """
    name = (protocol or "").strip().lower()
    if name not in PROTOCOLS:
        raise ConfigurationError(
            f"unknown Odoo protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
    cls, ssl = PROTOCOLS[name]
    return cls(url, database, login, password, ssl=ssl, timeout=timeout,
               retry_delay=retry_delay, uid=uid)
