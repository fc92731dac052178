"""What jobs of one project need (code layers, params, decrypted secrets, webhook URLs, the Odoo
connection, limits), read once and kept until the project's version changes.

Reading it all for every job cost several queries and a decryption per secret; a job now pays
nothing: the statement that starts it also returns the project's ``updated_at`` (see
:func:`connector.lifecycle.start` and :mod:`connector.store.versioning`), which :meth:`at_version`
compares with the cached one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from connector import installation
from connector.connections import connection_params
from connector.settings import Settings
from connector.store.crypto import SecretBox
from connector.store.models import Project, Task, Trigger
from worker.runtime import Limits

_VERSION = select(Project.__table__.c.updated_at).where(
    Project.__table__.c.id == bindparam("project_id"))


@dataclasses.dataclass(frozen=True)
class ProjectRuntime:
    """One version of a project, as the runtime sees it."""

    project_id: int
    version: dt.datetime | None
    name: str
    protected_code: str
    common_code: str
    params: dict[str, str]
    secrets: dict[str, str]
    webhooks: dict[str, str]
    connection: dict[str, Any] | None
    connection_id: int | None
    limits: Limits
    tasks: dict[int, tuple[str, str]]
    trigger_names: dict[int, str]
    texts: dict[str, str] = dataclasses.field(default_factory=dict)


class ProjectCache:
    """Project runtimes by id, refreshed when the project's version moves."""

    def __init__(self, settings: Settings, box: SecretBox) -> None:
        self.settings = settings
        self.box = box
        self._cache: dict[int, ProjectRuntime] = {}
        self._lock = threading.Lock()

    def get(self, session: Session | Connection, project_id: int) -> ProjectRuntime | None:
        """The current runtime of ``project_id`` (None when the project is gone).

        ``session`` may be a plain connection: the ORM is only needed on a cache miss.
        """
        version = session.execute(_VERSION, {"project_id": project_id}).first()
        if version is None:
            return None
        return self.at_version(session, project_id, version[0])

    def at_version(self, session: Session | Connection, project_id: int,
                   version: dt.datetime | None) -> ProjectRuntime | None:
        """Like :meth:`get` when the caller has read the project's version already."""
        with self._lock:
            cached = self._cache.get(project_id)
        if cached is not None and cached.version == version:
            return cached
        if isinstance(session, Connection):
            with Session(bind=session) as orm_session:
                fresh = self._load(orm_session, project_id)
        else:
            fresh = self._load(session, project_id)
        if fresh is not None:
            with self._lock:
                self._cache[project_id] = fresh
        return fresh

    def _load(self, session: Session, project_id: int) -> ProjectRuntime | None:
        project = session.get(Project, project_id, populate_existing=True)
        if project is None:
            return None
        base = installation.base_url(session, self.settings)
        triggers = list(session.scalars(select(Trigger).where(Trigger.project_id == project_id)))
        tasks = session.scalars(select(Task).where(Task.project_id == project_id))
        conn = project.connection
        settings = self.settings
        return ProjectRuntime(
            project_id=project.id, version=project.updated_at, name=project.name,
            protected_code=project.protected_code, common_code=project.common_code,
            params={p.key: p.value for p in project.params},
            secrets={s.key: self.box.decrypt(s.value_enc) for s in project.secrets
                     if s.value_enc},
            webhooks={t.trigger_name: f"{base}/webhooks/{t.token}" for t in triggers
                      if t.kind == "webhook"},
            connection=connection_params(conn, self.box) if conn is not None else None,
            connection_id=conn.id if conn is not None else None,
            limits=Limits(cpu_seconds=project.job_cpu_seconds or settings.job_cpu_seconds,
                          memory_mb=project.job_memory_mb or settings.job_memory_mb,
                          wall_seconds=project.job_wall_seconds or settings.job_wall_seconds),
            tasks={t.id: (t.name, t.code) for t in tasks},
            trigger_names={t.id: t.trigger_name for t in triggers},
            texts={t.key: t.value for t in project.texts},
        )
