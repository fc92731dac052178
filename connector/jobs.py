"""Job records: the outbox between change detection and the workers.

The core writes job rows in the same transaction that advances a cursor; the dispatcher in
``worker/`` sends pending rows to Dramatiq and re-sends those whose message was lost. Every state
change of a job goes through this module, so the rules live in one place.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from connector.errors import NotFoundError
from connector.store.models import FINISHED_STATES, Job, Log, Project, Trigger, utcnow

# Statements of the hot path, built once: on the table (not the ORM entity) so that executing
# them skips the ORM's bulk machinery, and SQLAlchemy's compiled cache serves every call.
# Declarative models' __table__ is typed as FromClause; it is a Table here.
_JOBS = cast(Table, Job.__table__)
_BEGIN = insert(_JOBS).returning(_JOBS.c.id)
_LOG = insert(cast(Table, Log.__table__))
_PROJECTS = cast(Table, Project.__table__)
_START = (
    update(_JOBS)
    .where(_JOBS.c.id == bindparam("job_id"), _JOBS.c.state.not_in(FINISHED_STATES))
    .values(state="started", attempts=_JOBS.c.attempts + 1, started_at=bindparam("now"),
            finished_at=None)
    .returning(_JOBS.c.id, _JOBS.c.project_id, _JOBS.c.task_id, _JOBS.c.trigger_id,
               _JOBS.c.function, _JOBS.c.args_json, _JOBS.c.kwargs_json, _JOBS.c.attempts,
               _JOBS.c.max_retries, _JOBS.c.user, _JOBS.c.root_id, _JOBS.c.depth,
               # The project's version too, so the worker's project cache needs no query.
               select(_PROJECTS.c.updated_at)
               .where(_PROJECTS.c.id == _JOBS.c.project_id)
               .scalar_subquery().label("project_version"))
)


def record_job(session: Session, *, project_id: int, task_id: int | None, function: str,
               trigger_id: int | None = None, args: Sequence[Any] = (),
               kwargs: dict[str, Any] | None = None, parent_id: int | None = None,
               priority: int = 10, eta: dt.datetime | None = None,
               max_retries: int | None = None, description: str | None = None,
               identity_key: str | None = None, user: str | None = None,
               root_id: int | None = None, depth: int = 0,
               args_json: str | None = None, kwargs_json: str | None = None) -> Job | None:
    """Add a pending job; with an ``identity_key`` already pending or enqueued, add nothing.

    ``args_json``/``kwargs_json``, when given, are the arguments already encoded (and masked).
    """
    if identity_key:
        duplicate = session.scalar(
            select(Job.id).where(Job.identity_key == identity_key,
                                 Job.state.in_(("pending", "enqueued"))).limit(1)
        )
        if duplicate is not None:
            return None
    job = Job(project_id=project_id, task_id=task_id, trigger_id=trigger_id, function=function,
              args_json=args_json if args_json is not None else json.dumps(list(args)),
              kwargs_json=kwargs_json if kwargs_json is not None else json.dumps(kwargs or {}),
              parent_id=parent_id, root_id=root_id, depth=depth, priority=priority, eta=eta,
              max_retries=max_retries,
              description=description, identity_key=identity_key, user=user, state="pending",
              next_attempt_at=eta)
    session.add(job)
    session.flush()
    return job


def record_trigger_job(session: Session, trigger: Trigger, *, args: Sequence[Any] = (),
                       user: str | None = None, description: str | None = None) -> Job:
    """A job that runs a trigger's handler with ``args``."""
    job = record_job(session, project_id=trigger.project_id, task_id=trigger.task_id,
                     trigger_id=trigger.id, function=trigger.handler, args=args, user=user,
                     description=description or trigger.trigger_name)
    assert job is not None  # no identity key, so never de-duplicated
    return job


def begin_job(session: Session | Connection, *, project_id: int, task_id: int,
              trigger_id: int | None, function: str, user: str | None = None,
              now: dt.datetime | None = None) -> StartedJob:
    """Insert a job that starts right away in this process (webhooks): one INSERT."""
    now = now or utcnow()
    job_id = session.execute(_BEGIN, dict(
        project_id=project_id, task_id=task_id, trigger_id=trigger_id, function=function,
        args_json="[]", kwargs_json="{}", state="started", attempts=1, priority=10, user=user,
        created_at=now, started_at=now, enqueued_at=now)).scalar_one()
    return StartedJob(id=job_id, project_id=project_id, task_id=task_id, trigger_id=trigger_id,
                      function=function, args=[], kwargs={}, attempts=1, max_retries=None,
                      user=user)


def _due(now: dt.datetime | None) -> Any:
    now = now or utcnow()
    return (or_(Job.next_attempt_at.is_(None), Job.next_attempt_at <= now), Job.state == "pending")


def due_jobs(session: Session, now: dt.datetime | None = None, limit: int = 500) -> list[Job]:
    """Pending jobs whose time has come, highest priority (lowest number) first."""
    return list(session.scalars(
        select(Job).where(*_due(now)).order_by(Job.priority, Job.id).limit(limit)))


def due_job_ids(session: Session, now: dt.datetime | None = None, limit: int = 500,
                per_project: int | None = None) -> list[int]:
    """Ids of :func:`due_jobs`, without loading the rows.

    With ``per_project``, projects take turns (each one's first due job, then each one's
    second, …) and a project gets no more than ``per_project`` jobs queued or running at once:
    one project's flood of jobs cannot keep another project's jobs from the workers.
    """
    if per_project is None:
        return list(session.scalars(
            select(Job.id).where(*_due(now)).order_by(Job.priority, Job.id).limit(limit)))
    busy: dict[int, int] = {project_id: count for project_id, count in session.execute(
        select(Job.project_id, func.count()).where(Job.state.in_(("enqueued", "started")))
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


def claim(session: Session, job_ids: Sequence[int], now: dt.datetime | None = None) -> list[int]:
    """Move pending jobs to enqueued with one UPDATE; returns the ids this call moved, in the
    order given. Rows no longer pending (another dispatcher claimed them first) are left out,
    so no two dispatchers send the same row."""
    if not job_ids:
        return []
    moved = set(session.scalars(
        update(_JOBS).where(_JOBS.c.id.in_(list(job_ids)), _JOBS.c.state == "pending")
        .values(state="enqueued", enqueued_at=now or utcnow()).returning(_JOBS.c.id)))
    return [job_id for job_id in job_ids if job_id in moved]


def mark_enqueued(session: Session, job_id: int, now: dt.datetime | None = None) -> bool:
    """Move a pending (or re-sent) job to enqueued; False if another process took it first."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state.in_(("pending", "enqueued", "started")))
        .values(state="enqueued", enqueued_at=now or utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


@dataclasses.dataclass(frozen=True)
class StartedJob:
    """What a worker needs of a job it has just started (read by the same statement)."""

    id: int
    project_id: int
    task_id: int | None
    trigger_id: int | None
    function: str
    args: list[Any]
    kwargs: dict[str, Any]
    attempts: int
    max_retries: int | None
    user: str | None
    #: The project's ``updated_at`` when the job started (see :mod:`worker.project_cache`).
    project_version: dt.datetime | None = None
    #: The root of the job's tree (None: the job is a root) and its depth in the tree.
    root_id: int | None = None
    depth: int = 0


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


def start(session: Session | Connection, job_id: int,
          now: dt.datetime | None = None) -> StartedJob | None:
    """Mark a job started and count the attempt; None when it is finished or gone.

    A finished job is not run again: a message delivered twice must not re-run a done job.
    One UPDATE … RETURNING both claims the job and reads it, with its project's version.
    """
    row = session.execute(_START, {"job_id": job_id, "now": now or utcnow()}).first()
    if isinstance(session, Session):
        loaded = session.identity_map.get(session.identity_key(Job, job_id))
        if loaded is not None:
            session.expire(loaded)  # the statement bypassed the ORM: reload on next access
    if row is None:
        return None
    return StartedJob(id=row.id, project_id=row.project_id, task_id=row.task_id,
                      trigger_id=row.trigger_id, function=row.function,
                      args=list(json.loads(row.args_json or "[]")),
                      kwargs=dict(json.loads(row.kwargs_json or "{}")),
                      attempts=row.attempts, max_retries=row.max_retries, user=row.user,
                      project_version=row.project_version, root_id=row.root_id,
                      depth=row.depth or 0)


def finish(session: Session, job: Job, *, result: Any = None, warnings: bool = False,
           now: dt.datetime | None = None) -> None:
    """Mark a job done (or done with warnings when a warning or error was logged)."""
    job.state = "done_warnings" if warnings else "done"
    job.finished_at = now or utcnow()
    job.error = None
    job.traceback = None
    try:
        job.result_json = json.dumps(result) if result is not None else None
    except Exception:  # noqa: BLE001 - not JSON, or e.g. an int too large to print
        job.result_json = json.dumps(f"<a {type(result).__name__}, not stored>")
    job.next_attempt_at = None


def fail(session: Session, job: Job, *, error: str, traceback: str | None = None,
         now: dt.datetime | None = None) -> None:
    """Mark a job failed for good."""
    job.state = "failed"
    job.finished_at = now or utcnow()
    job.error = error
    job.traceback = traceback
    job.next_attempt_at = None


def postpone(session: Session, job: Job, *, delay: float, error: str,
             traceback: str | None = None, now: dt.datetime | None = None) -> None:
    """Put a job back to pending, to be tried again after ``delay`` seconds."""
    now = now or utcnow()
    job.state = "pending"
    job.error = error
    job.traceback = traceback
    job.finished_at = now
    job.next_attempt_at = now + dt.timedelta(seconds=delay)


def retry(session: Session, job_id: int, now: dt.datetime | None = None) -> Job:
    """Queue a failed job again (``syncstudio job retry``, the dashboard's retry button)."""
    job = session.get(Job, job_id)
    if job is None:
        raise NotFoundError(f"job {job_id} does not exist")
    if job.state != "failed":
        raise NotFoundError(f"job {job_id} is {job.state}, only failed jobs can be retried")
    job.state = "pending"
    job.attempts = 0
    job.next_attempt_at = now or utcnow()
    job.error = None
    job.traceback = None
    return job


def insert_log(session: Session | Connection, job: StartedJob | Job, message: str, *,
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
