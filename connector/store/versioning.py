"""Project versions: any change to a project's params, secrets, tasks, triggers or Odoo
connection moves the project's ``updated_at``, so a worker can cache what a job needs per
project and know with one cheap query when the cache is stale."""

from __future__ import annotations

from itertools import chain
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from connector.store.models import (
    OdooConnection,
    Project,
    ProjectParam,
    ProjectSecret,
    ProjectText,
    Task,
    Trigger,
    utcnow,
)

_CHILDREN = (ProjectParam, ProjectText, ProjectSecret, Task, Trigger)


def _projects_of(session: Session, obj: Any) -> list[Project]:
    if isinstance(obj, OdooConnection):
        if obj.id is None:
            return []
        return list(session.scalars(select(Project).where(Project.connection_id == obj.id)))
    project = obj.__dict__.get("project")  # set when attached through the relationship
    if project is None and isinstance(obj, Trigger) and obj.task is not None:
        project = obj.task.__dict__.get("project")
    if project is None and obj.project_id is not None:
        project = session.get(Project, obj.project_id)
    return [project] if project is not None else []


@event.listens_for(Session, "before_flush")
def _bump_versions(session: Session, _flush_context: Any, _instances: Any) -> None:
    """Stamp the projects whose children change in this flush."""
    now = utcnow()
    changed = chain(session.new, session.deleted,
                    (obj for obj in session.dirty if session.is_modified(obj)))
    for obj in changed:
        if isinstance(obj, (*_CHILDREN, OdooConnection)):
            for project in _projects_of(session, obj):
                if project not in session.deleted:
                    project.updated_at = now
