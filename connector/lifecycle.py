"""The statements that change a job's state: the only code that writes ``job.state``.

Each function is one move of :data:`connector.jobstate.TRANSITIONS`. Those that many processes
race for (claim, enqueue, start) are compare-and-set statements that skip rows another process
moved first: that is how two dispatchers never send one row twice, or a message delivered twice
never re-runs a finished job. The others (finish, fail, postpone, retry, cancel) raise
:class:`~connector.errors.JobStateError` when the job is not in a state the move starts from,
and :class:`~connector.errors.NotFoundError` when it does not exist.

The statements are built once on the table, not the ORM entity: executing them skips the ORM's
bulk machinery and SQLAlchemy's compiled cache serves every call. When a session holds the job
as an object, that object is expired so that its next read sees the new state.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from connector.errors import JobStateError, NotFoundError, SyncStudioError
from connector.jobstate import SUCCEEDED, WAITING, JobState, Move, check, refusal, sources
from connector.masking import mask_data
from connector.store.models import Job, Project, utcnow

#: Most characters of a job's error text and traceback kept in its row.
ERROR_CHARS = 16_000
TRACEBACK_CHARS = 64_000

# Declarative models' __table__ is typed as FromClause; it is a Table here.
_JOBS = cast(Table, Job.__table__)
_PROJECTS = cast(Table, Project.__table__)
_ID = _JOBS.c.id == bindparam("job_id")
_BEGIN = insert(_JOBS).returning(_JOBS.c.id)
_START = (
    update(_JOBS)
    .where(_ID, _JOBS.c.state.in_(sources(Move.START)))
    .values(state=JobState.STARTED.value, attempts=_JOBS.c.attempts + 1,
            started_at=bindparam("now"), finished_at=None)
    .returning(_JOBS.c.id, _JOBS.c.project_id, _JOBS.c.task_id, _JOBS.c.trigger_id,
               _JOBS.c.function, _JOBS.c.args_json, _JOBS.c.kwargs_json, _JOBS.c.attempts,
               _JOBS.c.max_retries, _JOBS.c.user, _JOBS.c.root_id, _JOBS.c.depth,
               # The project's version too, so the worker's project cache needs no query.
               select(_PROJECTS.c.updated_at)
               .where(_PROJECTS.c.id == _JOBS.c.project_id)
               .scalar_subquery().label("project_version"))
)
# The same for the message of a job's latest send only (see start()).
_START_SENT = _START.where(_JOBS.c.enqueued_at == bindparam("sent_at"))
# How a run ended: done, failed or postponed, with one UPDATE … RETURNING.
_END = {move: update(_JOBS).where(_ID, _JOBS.c.state.in_(sources(move))).values(
    state=bindparam("state"), finished_at=bindparam("finished_at"),
    result_json=bindparam("result_json"), error=bindparam("error"),
    traceback=bindparam("traceback"), next_attempt_at=bindparam("next_attempt_at"),
).returning(_JOBS.c.id) for move in (Move.FINISH, Move.FAIL, Move.POSTPONE, Move.CANCEL)}


class ResultError(SyncStudioError):
    """Raised when a handler's return value cannot be stored (not JSON, or too large)."""


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


# --------------------------------------------------------------------------- new jobs
def record(session: Session, *, project_id: int, task_id: int | None, function: str,
           trigger_id: int | None = None, args: Sequence[Any] = (),
           kwargs: dict[str, Any] | None = None, parent_id: int | None = None,
           priority: int = 10, eta: dt.datetime | None = None, max_retries: int | None = None,
           description: str | None = None, identity_key: str | None = None,
           user: str | None = None, root_id: int | None = None, depth: int = 0,
           args_json: str | None = None, kwargs_json: str | None = None) -> Job | None:
    """Add a pending job; with an ``identity_key`` already pending or enqueued, add nothing.

    ``args_json``/``kwargs_json``, when given, are the arguments already encoded (and masked).
    """
    if identity_key:
        duplicate = session.scalar(select(Job.id).where(
            Job.identity_key == identity_key, Job.state.in_(WAITING)).limit(1))
        if duplicate is not None:
            return None
    job = Job(project_id=project_id, task_id=task_id, trigger_id=trigger_id, function=function,
              args_json=args_json if args_json is not None else json.dumps(list(args)),
              kwargs_json=kwargs_json if kwargs_json is not None else json.dumps(kwargs or {}),
              parent_id=parent_id, root_id=root_id, depth=depth, priority=priority, eta=eta,
              max_retries=max_retries, description=description, identity_key=identity_key,
              user=user, state=JobState.PENDING.value, next_attempt_at=eta)
    session.add(job)
    session.flush()
    return job


def begin(session: Session | Connection, *, project_id: int, task_id: int,
          trigger_id: int | None, function: str, user: str | None = None,
          now: dt.datetime | None = None) -> StartedJob:
    """Insert a job that starts right away in this process (webhooks): one INSERT.

    It is started at once, so no dispatcher ever sends it."""
    now = now or utcnow()
    job_id = session.execute(_BEGIN, dict(
        project_id=project_id, task_id=task_id, trigger_id=trigger_id, function=function,
        args_json="[]", kwargs_json="{}", state=JobState.STARTED.value, attempts=1,
        priority=10, user=user, created_at=now, started_at=now, enqueued_at=now)).scalar_one()
    return StartedJob(id=job_id, project_id=project_id, task_id=task_id, trigger_id=trigger_id,
                      function=function, args=[], kwargs={}, attempts=1, max_retries=None,
                      user=user)


# --------------------------------------------------------------------------- sending
def claim(session: Session, job_ids: Sequence[int], now: dt.datetime | None = None) -> list[int]:
    """Move pending jobs to enqueued with one UPDATE; returns the ids this call moved, in the
    order given. Rows no longer pending (another dispatcher claimed them first) are left out,
    so no two dispatchers send the same row."""
    if not job_ids:
        return []
    moved = set(session.scalars(
        update(_JOBS).where(_JOBS.c.id.in_(list(job_ids)),
                            _JOBS.c.state.in_(sources(Move.CLAIM)))
        .values(state=JobState.ENQUEUED.value, enqueued_at=now or utcnow())
        .returning(_JOBS.c.id)))
    _expire(session, *moved)
    return [job_id for job_id in job_ids if job_id in moved]


def enqueue(session: Session | Connection, job_id: int, now: dt.datetime | None = None) -> bool:
    """Mark a job enqueued anew before its message is sent (again); False when it finished
    meanwhile (or is gone), and then no message is to be sent."""
    moved = session.execute(
        update(_JOBS).where(_JOBS.c.id == job_id, _JOBS.c.state.in_(sources(Move.ENQUEUE)))
        .values(state=JobState.ENQUEUED.value, enqueued_at=now or utcnow())
        .returning(_JOBS.c.id)).first()
    _expire(session, job_id)
    return moved is not None


# --------------------------------------------------------------------------- runs
def start(session: Session | Connection, job_id: int, now: dt.datetime | None = None, *,
          sent_at: dt.datetime | None = None) -> StartedJob | None:
    """Mark a job started and count the attempt; None when it is finished or gone.

    A finished job is not run again: a message delivered twice must not re-run a done job.
    ``sent_at``, the time a message's send marked the job enqueued, starts the job only when
    that send is its latest: when the dispatcher took a message a worker still held for lost
    and sent another, the job runs for one of the two, not for both.
    One UPDATE … RETURNING both claims the job and reads it, with its project's version.
    """
    params = {"job_id": job_id, "now": now or utcnow()}
    if sent_at is None:
        row = session.execute(_START, params).first()
    else:
        row = session.execute(_START_SENT, {**params, "sent_at": sent_at}).first()
    _expire(session, job_id)
    if row is None:
        return None
    return StartedJob(id=row.id, project_id=row.project_id, task_id=row.task_id,
                      trigger_id=row.trigger_id, function=row.function,
                      args=list(json.loads(row.args_json or "[]")),
                      kwargs=dict(json.loads(row.kwargs_json or "{}")),
                      attempts=row.attempts, max_retries=row.max_retries, user=row.user,
                      project_version=row.project_version, root_id=row.root_id,
                      depth=row.depth or 0)


def finish(session: Session | Connection, job_id: int, *, warnings: bool = False,
           result_json: str | None = None, now: dt.datetime | None = None) -> JobState:
    """Record a run that ended without an error: done, or done with warnings when a warning
    or an error was logged. ``result_json`` is the value from :func:`encode_result`."""
    state = SUCCEEDED[1] if warnings else SUCCEEDED[0]
    _end(session, Move.FINISH, job_id, state, now=now, result_json=result_json)
    return state


def fail(session: Session | Connection, job_id: int, *, error: str,
         traceback: str | None = None, now: dt.datetime | None = None) -> None:
    """Record a run that ended with an error, for good."""
    _end(session, Move.FAIL, job_id, JobState.FAILED, now=now, error=error,
         traceback=traceback)


def postpone(session: Session | Connection, job_id: int, *, delay: float, error: str,
             traceback: str | None = None, now: dt.datetime | None = None) -> None:
    """Put a job whose run raised a retryable error back to pending, due in ``delay`` s."""
    now = now or utcnow()
    _end(session, Move.POSTPONE, job_id, JobState.PENDING, now=now, error=error,
         traceback=traceback, next_attempt_at=now + dt.timedelta(seconds=delay))


def cancel(session: Session | Connection, job_id: int, *, reason: str,
           now: dt.datetime | None = None) -> None:
    """Drop an unfinished job (e.g. its task was deleted): it fails with ``reason``."""
    _end(session, Move.CANCEL, job_id, JobState.FAILED, now=now, error=reason)


def retry(session: Session, job_id: int, now: dt.datetime | None = None) -> Job:
    """Queue a failed job again (``syncstudio job retry``, the dashboard's retry button)."""
    job = session.get(Job, job_id)
    if job is None:
        raise NotFoundError(f"job {job_id} does not exist")
    check(Move.RETRY, job.state, JobState.PENDING, job_id)
    job.state = JobState.PENDING.value
    job.attempts = 0
    job.next_attempt_at = now or utcnow()
    job.error = None
    job.traceback = None
    return job


def _end(session: Session | Connection, move: Move, job_id: int, state: JobState, *,
         now: dt.datetime | None, result_json: str | None = None, error: str | None = None,
         traceback: str | None = None, next_attempt_at: dt.datetime | None = None) -> None:
    """Run the statement of ``move``; raise when the job was not in a state it starts from."""
    if error is not None and len(error) > ERROR_CHARS:
        error = error[:ERROR_CHARS] + " … [cut]"
    if traceback is not None and len(traceback) > TRACEBACK_CHARS:
        traceback = traceback[:TRACEBACK_CHARS] + "\n… [cut]"
    moved = session.execute(_END[move], dict(
        job_id=job_id, state=state.value, finished_at=now or utcnow(), result_json=result_json,
        error=error, traceback=traceback, next_attempt_at=next_attempt_at)).first()
    _expire(session, job_id)
    if moved is None:
        current = session.execute(select(_JOBS.c.state).where(_JOBS.c.id == job_id)).scalar()
        if current is None:
            raise NotFoundError(f"job {job_id} does not exist")
        raise JobStateError(refusal(move, current, job_id))


def _expire(session: Session | Connection, *job_ids: int) -> None:
    """Forget the loaded state of jobs a statement changed behind the ORM's back."""
    if not isinstance(session, Session):
        return
    for job_id in job_ids:
        loaded = session.identity_map.get(session.identity_key(Job, job_id))
        if loaded is not None:
            session.expire(loaded)


# --------------------------------------------------------------------------- results
def encode_result(result: Any, mask: Callable[[str], str] = str, limit: int | None = None, *,
                  webhook: bool = False) -> str | None:
    """A handler's return value as stored in its job row, with secrets masked by ``mask``.

    Raises :class:`ResultError` for a value that is not JSON data or longer than ``limit``:
    the job then fails with that reason. A webhook's value is the answer to its caller (bytes,
    headers …): when it is not JSON data, only its type is stored.
    """
    if result is None:
        return None
    try:
        text = json.dumps(result)
    except Exception as exc:  # noqa: BLE001 - TypeError, ValueError (huge int), RecursionError
        if webhook:
            return json.dumps(f"<a {type(result).__name__}, not stored>")
        raise ResultError(f"the handler returned a value that cannot be stored as JSON ({exc}); "
                          "return plain data: str, numbers, bool, None, lists and dicts of "
                          "them") from None
    if limit is not None and len(text) > limit:
        raise ResultError(f"the handler's result is {len(text)} bytes as JSON, more than the "
                          f"limit of {limit} (SYNCSTUDIO_JOB_MAX_RESULT_BYTES); keep large data "
                          "elsewhere (e.g. in Odoo) and return a summary")
    if mask(text) != text:
        text = json.dumps(mask_data(result, mask))
        text = mask(text)  # a secret outside strings (e.g. in a number) is masked all the same
    return text

