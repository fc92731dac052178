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
        return self.get_params(conn.id, connection_params(conn, self.box))

    def get_params(self, connection_id: int, params: dict[str, Any]) -> OdooClient:
        """The client of connection ``connection_id`` with these :func:`make_client` params;
        a new client when the params changed."""
        key = tuple(sorted((k, str(v)) for k, v in params.items()))
        with self._lock:
            cached = self._clients.get(connection_id)
            if cached is not None and cached[0] == key:
                return cached[1]
            if cached is not None:
                cached[1].close()
            client = make_client(**params)
            self._clients[connection_id] = (key, client)
            return client

    def clients(self) -> list[tuple[int, OdooClient]]:
        """The clients held now, by connection id (for metrics)."""
        with self._lock:
            return [(connection_id, client)
                    for connection_id, (_key, client) in self._clients.items()]

    def close(self) -> None:
        """Close every client."""
        with self._lock:
            for _key, client in self._clients.values():
                client.close()
            self._clients.clear()
