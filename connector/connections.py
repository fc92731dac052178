"""Odoo clients for stored connections: decrypts the password, caches one client per connection."""

from __future__ import annotations

import threading
from typing import Any

from connector.odoo import OdooClient, make_client
from connector.store.crypto import SecretBox
from connector.store.models import OdooConnection


def connection_params(conn: OdooConnection, box: SecretBox) -> dict[str, Any]:
    """The keyword arguments of :func:`make_client` for ``conn`` (password decrypted)."""
    password = box.decrypt(conn.password_enc) if conn.password_enc else ""
    return {"url": conn.url, "database": conn.database, "login": conn.login,
            "password": password, "protocol": conn.protocol, "timeout": conn.timeout}


class ClientPool:
    """One client per connection, re-created when the connection's settings change."""

    def __init__(self, box: SecretBox) -> None:
        self.box = box
        self._clients: dict[int, tuple[tuple[Any, ...], OdooClient]] = {}
        self._lock = threading.Lock()

    def get(self, conn: OdooConnection) -> OdooClient:
        """The client of ``conn``."""
        key = (conn.url, conn.database, conn.login, conn.password_enc, conn.protocol,
               conn.timeout)
        with self._lock:
            cached = self._clients.get(conn.id)
            if cached is not None and cached[0] == key:
                return cached[1]
            if cached is not None:
                cached[1].close()
            client = make_client(**connection_params(conn, self.box))
            self._clients[conn.id] = (key, client)
            return client

    def close(self) -> None:
        """Close every client."""
        with self._lock:
            for _key, client in self._clients.values():
                client.close()
            self._clients.clear()
