"""Talking to Odoo over RPC: one client interface; JSON-RPC, XML-RPC and JSON-2 implementations.

>>> client = make_client(url="http://127.0.0.1:8069", database="odootest", login="admin",
...                      password="admin", protocol="jsonrpc")   # doctest: +SKIP
>>> client.search_read("res.partner", [("is_company", "=", True)], ["name"])  # doctest: +SKIP
"""

from connector.odoo import errors
from connector.odoo.base import OdooClient
from connector.odoo.factory import PROTOCOLS, make_client
from connector.odoo.json2 import Json2Client
from connector.odoo.jsonrpc import JsonRpcClient
from connector.odoo.xmlrpc import XmlRpcClient

__all__ = ["PROTOCOLS", "Json2Client", "JsonRpcClient", "OdooClient", "XmlRpcClient", "errors",
           "make_client"]
