"""One Odoo login per worker process and connection, shared with the sandbox processes.

A login costs about half a second on a real Odoo 17 (the password is hashed; overlapping
logins take three times as long), a call with a known uid a few milliseconds. A sandbox process
cannot keep the worker's client (sockets and locks do not cross processes), but it can start
from the worker's uid: :func:`sandbox_connection` adds it to the connection parameters the
sandbox builds its client from, so the sandbox never logs in. If Odoo refuses a call with that
uid (the password changed), the sandbox's client logs in once and retries; when the connection's
row changes, the worker's client is replaced (:class:`connector.connections.ClientPool`) and its
one new login gives the next uid.

:func:`prime_logins` logs in to every active project's connection when the worker starts, so
the first event after start-up is handled as fast as the later ones.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import select

from connector.connections import ClientPool, connection_params
from connector.store.crypto import SecretBox
from connector.store.db import Database
from connector.store.models import OdooConnection, Project

logger = logging.getLogger("syncstudio.worker")

#: Logins run at once when the worker starts (each one is mostly waiting on its Odoo).
PRIME_THREADS = 4


def sandbox_connection(pool: ClientPool, connection_id: int | None,
                       params: dict[str, Any] | None) -> dict[str, Any] | None:
    """``params`` plus the uid this worker process holds for the connection (logging in if
    it holds none); ``params`` alone when that login fails, so the sandbox reports the error
    as it would without the worker's help, and only if the task talks to Odoo."""
    if params is None or connection_id is None:
        return params
    uid = pool.get_params(connection_id, params).try_uid()
    return params if uid is None else {**params, "uid": uid}


def prime_logins(db: Database, pool: ClientPool, box: SecretBox) -> int:
    """Log in now to the connection of every active project; how many logins succeeded.

    A connection that is down or refuses the login is skipped (its jobs report it).
    """
    try:
        with db.session() as session:
            rows = session.scalars(select(OdooConnection).where(OdooConnection.id.in_(
                select(Project.connection_id).where(Project.active.is_(True),
                                                    Project.connection_id.is_not(None)))))
            connections = [(conn.id, connection_params(conn, box)) for conn in rows]
    except Exception as exc:  # noqa: BLE001 - jobs log in themselves when this cannot
        logger.warning("could not read the Odoo connections to log in to: %s: %s",
                       type(exc).__name__, exc)
        return 0

    def login(item: tuple[int, dict[str, Any]]) -> bool:
        try:
            return pool.get_params(*item).try_uid() is not None
        except Exception as exc:  # noqa: BLE001 - a bad row must not stop the worker
            logger.warning("could not prepare the Odoo client of connection %s: %s: %s",
                           item[0], type(exc).__name__, exc)
            return False

    if not connections:
        return 0
    with ThreadPoolExecutor(max_workers=min(PRIME_THREADS, len(connections)),
                            thread_name_prefix="syncstudio-login") as executor:
        done = sum(executor.map(login, connections))
    logger.info("logged in to %d of %d Odoo connection(s)", done, len(connections))
    return done
