"""Values one installation shares across its processes, kept in the own database.

The public base URL of webhooks is the first: a button run from another shell, a worker on
another machine and the dashboard must all hand out the URL the web process really answers on.
``SYNCSTUDIO_BASE_URL`` decides when it is set; otherwise the web process records its own
address at start and every other process reads it from here.
"""

from __future__ import annotations

import socket

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connector.settings import Settings
from connector.store.db import Database
from connector.store.models import InstallationValue, Project, utcnow

BASE_URL = "base_url"


def listening_url(host: str, port: int) -> str:
    """The URL of a web process listening on ``host:port`` as other machines would call it
    (a wildcard address means "this machine": its name stands in for it)."""
    if host in ("0.0.0.0", "::", ""):
        host = socket.getfqdn()
    return f"http://{host}:{port}"


def record_base_url(db: Database, settings: Settings) -> None:
    """Record the web process's address as the installation's base URL, unless the operator
    configured one (then that is recorded, so every process agrees)."""
    url = settings.base_url.rstrip("/") if settings.base_url_configured else \
        listening_url(settings.web_host, settings.web_port)
    with db.session() as session:
        row = session.get(InstallationValue, BASE_URL)
        if row is not None and row.value == url:
            return
        if row is None:
            session.add(InstallationValue(name=BASE_URL, value=url))
        else:
            row.value = url
        # Workers cache each project's runtime (webhook URLs included) by its version: a new
        # address is a new version of every project.
        session.execute(update(Project).values(updated_at=utcnow()))


def base_url(session: Session, settings: Settings) -> str:
    """The public base URL of webhooks: the configured one, else the one the web process
    recorded, else this process's own default. A separate public origin for webhooks
    (``SYNCSTUDIO_WEBHOOK_BASE_URL``) wins over all of them."""
    if settings.webhook_base_url:
        return settings.webhook_base_url.rstrip("/")
    if settings.base_url_configured:
        return settings.base_url.rstrip("/")
    recorded = session.scalar(select(InstallationValue.value)
                              .where(InstallationValue.name == BASE_URL))
    return (recorded or settings.base_url).rstrip("/")
