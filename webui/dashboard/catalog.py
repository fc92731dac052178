"""What the trigger forms offer to pick: the models of a connection's Odoo (``ir.model``) and the
fields of one model (``fields_get``), cached per connection for a short while.

A trigger page is opened, a model is picked, its fields are listed, the trigger is saved: each
step would otherwise ask Odoo again. Entries live :data:`TTL` seconds; a failure is kept
:data:`FAILURE_TTL` seconds so that a connection that is down slows one page, not every page.
The cache key holds the connection's settings, so editing a connection (its URL, its password)
is a fresh start. Nothing here ever holds or returns the password.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import current_app

from connector.connections import connection_params
from connector.errors import SyncStudioError
from connector.odoo import make_client
from connector.store.crypto import SecretBox
from connector.store.models import OdooConnection

TTL = 300.0          # seconds a catalog answer is reused
FAILURE_TTL = 60.0   # seconds a failure is reused before Odoo is asked again
TIMEOUT = 5.0        # seconds a picker waits for Odoo, whatever the connection's own timeout
DATE_TYPES = ("date", "datetime")
T = TypeVar("T")


class Unavailable(Exception):
    """The pickers cannot list from Odoo; the message says why, in one line, without secrets."""


class _NoSuchModel(Exception):
    """Odoo answered and has no such model: not a failure of the connection, nor cached."""


@dataclass(frozen=True)
class Field:
    """One field of a model, as the pickers show it."""

    name: str
    label: str
    type: str

    @property
    def is_date(self) -> bool:
        """Whether a timed condition may use it."""
        return self.type in DATE_TYPES


_lock = threading.Lock()
_entries: dict[tuple[Any, ...], tuple[float, Any, str | None]] = {}


def _key(conn: OdooConnection, what: tuple[str, ...]) -> tuple[Any, ...]:
    # The encrypted password stands for the password: it changes whenever the password does.
    digest = hashlib.sha256((conn.password_enc or "").encode()).hexdigest()[:16]
    return (conn.id, conn.url, conn.database, conn.login, conn.protocol, digest, *what)


def _cached(conn: OdooConnection, what: tuple[str, ...], fetch: Callable[[Any], T]) -> T:
    key = _key(conn, what)
    now = time.monotonic()
    with _lock:
        found = _entries.get(key)
    if found is not None and found[0] > now:
        if found[2] is not None:
            raise Unavailable(found[2])
        value: T = found[1]
        return value
    params = connection_params(conn, SecretBox.from_settings(current_app.config["SETTINGS"]))
    params["timeout"] = min(float(params.get("timeout") or TIMEOUT), TIMEOUT)
    try:
        client = make_client(**params)
        try:
            value = fetch(client)
        finally:
            client.close()
    except (SyncStudioError, OSError) as exc:  # the client's errors never carry the password
        reason = f"{conn.name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        with _lock:
            _entries[key] = (now + FAILURE_TTL, None, reason)
        raise Unavailable(reason) from None
    with _lock:
        _entries[key] = (now + TTL, value, None)
    return value


def models(conn: OdooConnection) -> list[tuple[str, str]]:
    """``(model, name)`` of every model of the connection's Odoo, by model."""
    def fetch(client: Any) -> list[tuple[str, str]]:
        rows = client.search_read("ir.model", [], ["model", "name"])
        return sorted((str(r["model"]), str(r.get("name") or r["model"])) for r in rows)
    return _cached(conn, ("models",), fetch)


def fields(conn: OdooConnection, model: str) -> list[Field]:
    """The fields of ``model``, by label; :class:`Unavailable` when the model is unknown."""
    def fetch(client: Any) -> list[Field]:
        found = client.search_read("ir.model", [("model", "=", model)], ["model"])
        if not found:
            raise _NoSuchModel(model)
        described = client.fields_get(model, attributes=["string", "type"])
        return sorted((Field(name, str(info.get("string") or name), str(info.get("type") or ""))
                       for name, info in described.items()),
                      key=lambda f: (f.label.lower(), f.name))
    try:
        return _cached(conn, ("fields", model), fetch)
    except _NoSuchModel:
        raise Unavailable(f"model {model!r} does not exist in {conn.name}'s Odoo") from None


def clear() -> None:
    """Forget every cached answer (after a connection is edited, and between tests)."""
    with _lock:
        _entries.clear()
