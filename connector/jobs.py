"""Job records: the outbox between change detection and the workers.

The core writes job rows in the same transaction that advances a cursor; the dispatcher in
``worker/`` sends pending rows to Dramatiq and re-sends those whose message was lost. This module
holds what is asked of job rows (which are due, how large a tree is, whether a run is abandoned),
the checks of ``add_job``'s options and the jobs' log lines; every change of a job's state is a
statement of :mod:`connector.lifecycle`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, func, insert, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from connector import lifecycle
from connector.jobstate import BUSY, JobState
from connector.store.models import Job, Log, Trigger, utcnow

# Declarative models' __table__ is typed as FromClause; it is a Table here.
_JOBS = cast(Table, Job.__table__)
_LOG = insert(cast(Table, Log.__table__))


def record_trigger_job(session: Session, trigger: Trigger, *, args: Sequence[Any] = (),
                       user: str | None = None, description: str | None = None) -> Job:
    """A job that runs a trigger's handler with ``args``."""
    job = lifecycle.record(session, project_id=trigger.project_id, task_id=trigger.task_id,
                          trigger_id=trigger.id, function=trigger.handler, args=args,
                          user=user, description=description or trigger.trigger_name)
    assert job is not None  # no identity key, so never de-duplicated
    return job


def _due(now: dt.datetime | None) -> Any:
    now = now or utcnow()
    return (or_(Job.next_attempt_at.is_(None), Job.next_attempt_at <= now),
            Job.state == JobState.PENDING)


def due_job_ids(session: Session, now: dt.datetime | None = None, limit: int = 500,
                per_project: int | None = None) -> list[int]:
    """Ids of the pending jobs whose time has come, highest priority (lowest number) first.

    With ``per_project``, projects take turns (each one's first due job, then each one's
    second, …) and a project gets no more than ``per_project`` jobs queued or running at once:
    one project's flood of jobs cannot keep another project's jobs from the workers.
    """
    if per_project is None:
        return list(session.scalars(
            select(Job.id).where(*_due(now)).order_by(Job.priority, Job.id).limit(limit)))
    busy: dict[int, int] = {project_id: count for project_id, count in session.execute(
        select(Job.project_id, func.count()).where(Job.state.in_(BUSY))
        .group_by(Job.project_id))}
    ranked = select(
        Job.id, Job.project_id,
        func.row_number().over(partition_by=Job.project_id,
                               order_by=(Job.priority, Job.id)).label("turn"),
    ).where(*_due(now)).subquery()
    rows = session.execute(
        select(ranked.c.id, ranked.c.project_id, ranked.c.turn)
        .where(ranked.c.turn <= per_project)
        .order_by(ranked.c.turn, ranked.c.id))
    chosen = [job_id for job_id, project_id, turn in rows
              if turn <= per_project - busy.get(project_id, 0)]
    return chosen[:limit]


class JobOptionError(ValueError):
    """A bad option of ``add_job`` (the message names the option and what it accepts)."""


def check_job_options(function: Any, priority: Any = 10, eta: Any = None,
                      max_retries: Any = None, description: Any = None,
                      identity_key: Any = None) -> None:
    """Refuse ``add_job`` options a job row cannot hold, with a message naming the fix."""
    def integer(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if not isinstance(function, str) or not function.isidentifier() or len(function) > 200:
        raise JobOptionError(f"add_job: the function must be the name of a function of the "
                             f"task (a str), got {_shown(function)}")
    if not integer(priority) or not 0 <= priority <= 1_000_000:
        raise JobOptionError(f"add_job: priority must be a whole number from 0 to 1000000 "
                             f"(lower runs first), got {_shown(priority)}")
    if max_retries is not None and (not integer(max_retries) or not 0 <= max_retries <= 100):
        raise JobOptionError(f"add_job: max_retries must be None or a whole number from 0 to "
                             f"100, got {_shown(max_retries)}")
    if eta is not None:
        if isinstance(eta, int | float) and not isinstance(eta, bool):
            if not 0 <= eta <= 366 * 86400:
                raise JobOptionError("add_job: eta in seconds must be from 0 to one year, got "
                                     f"{_shown(eta)}")
        elif isinstance(eta, dt.timedelta):
            if not dt.timedelta(0) <= eta <= dt.timedelta(days=366):
                raise JobOptionError(f"add_job: eta must be from 0 to one year, got {eta}")
        elif not isinstance(eta, dt.datetime):
            raise JobOptionError("add_job: eta must be seconds from now, a timedelta or a "
                                 f"(naive UTC) datetime, got {_shown(eta)}")
    if description is not None and (not isinstance(description, str) or len(description) > 500):
        raise JobOptionError("add_job: description must be a str of at most 500 characters")
    if identity_key is not None and (not isinstance(identity_key, str)
                                     or len(identity_key) > 255):
        raise JobOptionError("add_job: identity_key must be a str of at most 255 characters")


def _shown(value: Any) -> str:
    """A short description of a bad value (its type, and the value when it is short)."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - e.g. an int too large to print
        text = ""
    if text and len(text) <= 40:
        return f"{text} ({type(value).__name__})"
    return f"a {type(value).__name__}"


def tree_size(session: Session | Connection, root_id: int) -> int:
    """How many jobs the tree of root job ``root_id`` holds, the root included."""
    return int(session.execute(select(func.count()).select_from(_JOBS).where(
        _JOBS.c.root_id == root_id)).scalar_one()) + 1


def run_abandoned(started_at: dt.datetime | None, now: dt.datetime, started_after: float,
                  project_wall_seconds: float | None = None) -> bool:
    """True when a job marked started at ``started_at`` cannot still be running.

    ``started_after`` covers the default wall-clock limit; a project may allow its jobs longer
    (``limits: wall_seconds``), and then a run may last that long plus a minute's grace.
    """
    if started_at is None:
        return False  # cannot tell: count it as running
    limit = started_after
    if project_wall_seconds:
        limit = max(limit, project_wall_seconds + 60)
    return started_at < now - dt.timedelta(seconds=limit)


def insert_log(session: Session | Connection, job: lifecycle.StartedJob | Job, message: str, *,
               level: str = "info", type: str = "server",
               now: dt.datetime | None = None) -> None:
    """Append one log line to a job with a single INSERT (no object loaded)."""
    session.execute(_LOG, dict(
        job_id=job.id, project_id=job.project_id, task_id=job.task_id,
        trigger_id=job.trigger_id, created_at=now or utcnow(), level=level, type=type,
        message=message))


def add_log(session: Session, job: Job | None, message: str, *, level: str = "info",
            type: str = "server", project_id: int | None = None) -> Log:
    """Append one log line to a job (or to a project when there is no job)."""
    line = Log(job_id=job.id if job else None,
               project_id=job.project_id if job else project_id,
               task_id=job.task_id if job else None,
               trigger_id=job.trigger_id if job else None,
               level=level, type=type, message=message)
    session.add(line)
    return line
