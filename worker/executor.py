"""Running one job: start it by id, run its handler through the task runtime, record the outcome.

Whatever the task code does, :func:`execute` returns normally: a broken task fails its job, it
never crashes the worker. Log lines are written as they come, each with one INSERT in its own
short transaction, so they survive the job's failure and even the worker's death. The project's
code, params and secrets come from a per-project cache that one query checks for staleness.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from connector import jobs, lifecycle
from connector.connections import ClientPool
from connector.errors import CodeError, JobStateError, NotFoundError, SyncStudioError
from connector.jobstate import JobState
from connector.lifecycle import encode_result
from connector.links import LinkStore, link_api
from connector.masking import mask_data, masker
from connector.settings import Settings
from connector.store.crypto import SecretBox
from connector.store.db import Database
from connector.store.models import LOG_LEVELS, LOG_TYPES, Job, utcnow
from worker.logins import sandbox_connection
from worker.project_cache import ProjectCache, ProjectRuntime
from worker.retries import retry_delay
from worker.runtime import (
    RetryableJobError,
    format_user_traceback,
    run_handler,
    run_isolated,
)

logger = logging.getLogger("syncstudio.worker")

WARNING_LEVELS = ("warning", "error", "critical")


class JobLimitError(SyncStudioError):
    """Raised when ``add_job`` would pass a bound on sub-jobs (per job, per tree, depth, size)."""


def cut_line(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with a note saying so."""
    if len(text) <= limit:
        return text
    return (f"{text[:limit]} … [line cut: {len(text)} characters, the limit is {limit} "
            "(SYNCSTUDIO_LOG_LINE_MAX_CHARS)]")


def write_log(ctx: WorkerContext, conn: Connection, job: lifecycle.StartedJob | Job,
              project: ProjectRuntime | None, message: str, *, level: str = "info",
              type: str = "server") -> None:
    """Append a log line written by the product itself (e.g. the webhook relay's data in/out),
    with the project's secrets masked and the line cut to the configured length."""
    if project is not None:
        message = masker(project.secrets)(message)
    jobs.insert_log(conn, job, cut_line(message, ctx.settings.log_line_max_chars),
                    level=level, type=type)


@dataclasses.dataclass
class WorkerContext:
    """What a worker needs to run jobs: settings, the own database, secrets and Odoo clients."""

    settings: Settings
    db: Database
    box: SecretBox
    pool: ClientPool
    projects: ProjectCache
    wake_dispatcher: Callable[[], None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, db: Database | None = None) -> WorkerContext:
        """Build a context from settings, creating the database handle when none is given."""
        box = SecretBox.from_settings(settings)
        return cls(settings=settings, db=db or Database(settings.database_url), box=box,
                   pool=ClientPool(box), projects=ProjectCache(settings, box))


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a run ended: the job's new state, the handler's return value, the error text."""

    state: JobState
    result: Any = None
    error: str | None = None


def execute(ctx: WorkerContext, job_id: int, *, call_args: tuple[Any, ...] | None = None,
            now: dt.datetime | None = None,
            sent_at: dt.datetime | None = None) -> Outcome | None:
    """Run job ``job_id`` once; None when it was not runnable (finished already, or gone, or
    ``sent_at`` is not the time of its latest send: a stale copy of its message).

    ``call_args`` replaces the stored arguments: a webhook's request object is handed to the
    handler directly instead of being stored in the job row.
    """
    # A plain autocommit connection, not an ORM session, on this path: it runs once per job and
    # each statement is atomic on its own. It is held until the end is recorded, so a job costs
    # one checkout; the handler's log lines take their own.
    with ctx.db.autocommit.connect() as conn:
        job = lifecycle.start(conn, job_id, now, sent_at=sent_at)
        if job is None:
            return None
        project = ctx.projects.at_version(conn, job.project_id, job.project_version)
        task = project.tasks.get(job.task_id) if project and job.task_id else None
        if project is None or task is None:
            error = "the task or project of this job no longer exists"
            _record(job, lifecycle.fail, conn, job.id, error=error, now=now)
            return Outcome(JobState.FAILED, error=error)
        return run_started(ctx, job, project, call_args=call_args, now=now, conn=conn)


def run_started(ctx: WorkerContext, job: lifecycle.StartedJob, project: ProjectRuntime, *,
                call_args: tuple[Any, ...] | None = None, now: dt.datetime | None = None,
                conn: Connection | None = None) -> Outcome:
    """Run the handler of a job already marked started and record how it ended.

    ``conn``, an autocommit connection the caller holds, records the end without checking out
    another one.
    """
    settings = ctx.settings
    mask = masker(project.secrets)
    added: list[int] = []
    # What the log closure keeps between calls: log bytes written, whether the end of the
    # allowance was reported, whether a warning (or worse) was logged.
    written = {"bytes": 0, "cut": False, "warned": False}

    def log(message: Any, level: str = "info", type: str = "server") -> None:
        # Masked here as well as in the sandbox: this side holds even if the sandbox's own
        # masking was bypassed.
        level = str(level).lower()
        level = level if level in LOG_LEVELS else "info"
        type = type if type in LOG_TYPES else "server"
        if level in WARNING_LEVELS:
            written["warned"] = True
        if written["cut"]:
            return
        text = cut_line(mask(str(message)), settings.log_line_max_chars)
        size = len(text.encode("utf-8", "replace"))
        with ctx.db.autocommit.connect() as conn:
            if written["bytes"] + size > settings.job_max_log_bytes:
                written["cut"] = written["warned"] = True
                jobs.insert_log(conn, job, (
                    f"log truncated: this job wrote more than {settings.job_max_log_bytes} bytes "
                    "of log (SYNCSTUDIO_JOB_MAX_LOG_BYTES); later lines are dropped"),
                    level="warning")
                return
            written["bytes"] += size
            jobs.insert_log(conn, job, text, level=level, type=type)

    def log_transmission(recipient: Any, payload: Any) -> None:
        log(f"{recipient}: {payload}", "info", "data_out")

    def add_job(func_name: str, priority: int = 10, eta: Any = None,
                max_retries: int | None = None, description: str | None = None,
                identity_key: str | None = None) -> Callable[..., int | None]:
        # Checked here too: the sandbox checks first, but its messages are not to be trusted.
        jobs.check_job_options(func_name, priority, eta, max_retries, description,
                               identity_key)

        def delay(*args: Any, **kwargs: Any) -> int | None:
            if len(added) >= settings.job_max_subjobs:
                raise JobLimitError(f"a job may add at most {settings.job_max_subjobs} "
                                    "sub-jobs (SYNCSTUDIO_JOB_MAX_SUBJOBS)")
            depth = job.depth + 1
            if depth > settings.job_max_depth:
                raise JobLimitError(
                    f"sub-jobs may nest at most {settings.job_max_depth} deep "
                    f"(SYNCSTUDIO_JOB_MAX_DEPTH); this job is at depth {job.depth}")
            args_json, kwargs_json = _encode_args(args, kwargs, mask,
                                                  settings.job_max_args_bytes)
            root_id = job.root_id or job.id
            with ctx.db.session() as session:
                if jobs.tree_size(session, root_id) >= settings.job_tree_max_jobs:
                    raise JobLimitError(
                        f"a job tree (a root job and all its sub-jobs) may hold at most "
                        f"{settings.job_tree_max_jobs} jobs (SYNCSTUDIO_JOB_TREE_MAX_JOBS); "
                        f"the tree of job {root_id} is full")
                child = lifecycle.record(
                    session, project_id=job.project_id, task_id=job.task_id,
                    trigger_id=job.trigger_id, function=func_name, args_json=args_json,
                    kwargs_json=kwargs_json, parent_id=job.id, root_id=root_id, depth=depth,
                    priority=priority, eta=_eta(eta), max_retries=max_retries,
                    description=mask(description) if description else None,
                    identity_key=identity_key, user=job.user)
                added.append(1)
                return child.id if child is not None else None
        return delay

    try:
        try:
            result = _run(ctx, job, project, call_args, log, log_transmission, add_job)
            result_json = encode_result(result, mask, settings.job_max_result_bytes,
                                        webhook=call_args is not None)
        except RetryableJobError as exc:
            # A webhook's request is not stored, so it cannot be replayed: the caller must call
            # again.
            delay = None if call_args is not None else retry_delay(
                job.attempts, settings.retry_delays, job.max_retries)
            outcome = _record_failure(ctx, job, project, exc, delay, now)
        except Exception as exc:  # task code may raise anything; it fails the job, not the worker
            outcome = _record_failure(ctx, job, project, exc, None, now)
        else:
            state = _record_end(ctx, conn, job, warnings=bool(written["warned"]),
                                result_json=result_json, now=now)
            outcome = Outcome(state, result=result)
    except Exception as exc:
        # Recording the end failed (a broken database, an error text that cannot be built):
        # try once more with a fixed text, so that the job never stays started.
        logger.exception("job %s: could not record its end", job.id)
        error = f"the end of this job could not be recorded ({type(exc).__name__})"
        with ctx.db.autocommit.connect() as own:
            _record(job, lifecycle.fail, own, job.id, error=error, now=now)
        outcome = Outcome(JobState.FAILED, error=error)
    if added and ctx.wake_dispatcher is not None:
        ctx.wake_dispatcher()
    return outcome


def _encode_args(args: tuple[Any, ...], kwargs: dict[str, Any], mask: Callable[[str], str],
                 limit: int) -> tuple[str, str]:
    """A sub-job's arguments as JSON, with secrets masked; refused when not JSON or too big."""
    try:
        args_json, kwargs_json = json.dumps(list(args)), json.dumps(kwargs)
    except Exception as exc:  # noqa: BLE001 - TypeError, ValueError (huge int), RecursionError
        raise JobLimitError(f"add_job: the arguments of a sub-job must be plain JSON data "
                            f"(str, numbers, bool, None, lists and dicts): {exc}") from None
    size = len(args_json) + len(kwargs_json)
    if size > limit:
        raise JobLimitError(f"add_job: the arguments are {size} bytes as JSON, more than the "
                            f"limit of {limit} (SYNCSTUDIO_JOB_MAX_ARGS_BYTES); pass ids or "
                            "keys and read the data in the sub-job")
    if mask(args_json) != args_json:
        args_json = json.dumps(mask_data(list(args), mask))
    if mask(kwargs_json) != kwargs_json:
        kwargs_json = json.dumps(mask_data(kwargs, mask))
    return args_json, kwargs_json


def _eta(eta: Any) -> dt.datetime | None:
    """queue_job's eta: seconds from now, a timedelta, or a (naive UTC) datetime."""
    if isinstance(eta, int | float) and not isinstance(eta, bool):
        return utcnow() + dt.timedelta(seconds=eta)
    if isinstance(eta, dt.timedelta):
        return utcnow() + eta
    return eta if isinstance(eta, dt.datetime) else None


def _run(ctx: WorkerContext, job: lifecycle.StartedJob, project: ProjectRuntime,
         call_args: tuple[Any, ...] | None, log: Callable[..., None],
         log_transmission: Callable[[Any, Any], None], add_job: Callable[..., Any]) -> Any:
    """Call the handler, in a sandbox process (the default) or in this process."""
    task_name, task_code = project.tasks[job.task_id or 0]
    records = None
    args: tuple[Any, ...] = tuple(job.args) if call_args is None else call_args
    if job.function == "handle_db" and len(job.args) >= 2:
        # [model, ids] or, for deletions, [model, ids, {"deleted": {id: last known values}}]
        extra = job.args[2] if len(job.args) > 2 and isinstance(job.args[2], dict) else {}
        records = (job.args[0], list(job.args[1]), extra.get("deleted") or {})
        args = ()
    common: dict[str, Any] = dict(
        protected_code=project.protected_code, common_code=project.common_code,
        task_code=task_code, handler=job.function, records=records, args=args,
        kwargs=job.kwargs, params=project.params, texts=project.texts, secrets=project.secrets,
        webhooks=project.webhooks, trigger_name=project.trigger_names.get(job.trigger_id or 0),
        user=job.user, add_job=add_job, allowlist=ctx.settings.import_allowlist,
        task_name=task_name, log=log, log_transmission=log_transmission)
    store = LinkStore(ctx.db, job.project_id)
    if ctx.settings.isolation:
        # The sandbox process asks this process for every link operation: it holds no
        # database connection, URL or credentials of its own.
        # The sandbox starts from this process's uid: one login per worker and connection.
        connection = sandbox_connection(ctx.pool, project.connection_id, project.connection)
        return run_isolated(connection=connection, limits=project.limits,
                            link_store=store, **common)
    client = None
    if project.connection is not None and project.connection_id is not None:
        client = ctx.pool.get_params(project.connection_id, project.connection)
    return run_handler(client=client, link_api=lambda env: link_api(store, env), **common)


def _record_end(ctx: WorkerContext, conn: Connection | None, job: lifecycle.StartedJob, *,
                warnings: bool, result_json: str | None, now: dt.datetime | None) -> JobState:
    """Record a successful run on ``conn``, or on a fresh connection if that one broke.

    ``conn`` was idle while the handler ran, maybe for minutes: the database may have closed
    it meanwhile. The UPDATE is idempotent, so running it again on a new connection is safe.
    """
    state = JobState.DONE_WARNINGS if warnings else JobState.DONE
    if conn is not None:
        try:
            _record(job, lifecycle.finish, conn, job.id, warnings=warnings,
                    result_json=result_json, now=now)
            return state
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            logger.warning("job %s: the database connection broke during the run; recording "
                           "its end on a new one", job.id)
    with ctx.db.autocommit.connect() as own:
        _record(job, lifecycle.finish, own, job.id, warnings=warnings, result_json=result_json,
                now=now)
    return state


def _record(job: lifecycle.StartedJob, move: Callable[..., Any], *args: Any,
            **kwargs: Any) -> None:
    """Record how a run ended with ``move``; a job that another process finished meanwhile
    (it counted this run as abandoned and cancelled or re-ran the job) keeps that end, and one
    deleted meanwhile (with its project) has no end to record."""
    try:
        move(*args, **kwargs)
    except (JobStateError, NotFoundError) as exc:
        logger.warning("job %s: the end of this run is not recorded: %s", job.id, exc)


def _error_text(exc: BaseException, secrets: dict[str, str] | None = None) -> str:
    name = type(exc).__name__
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - e.g. an int too large to print in its arguments
        message = "(the message of this error cannot be shown)"
    return f"{name}: {masker(secrets)(message)}" if message else name


def _traceback(exc: BaseException, secrets: dict[str, str] | None = None) -> str:
    user_traceback = getattr(exc, "user_traceback", None)
    if user_traceback:
        return masker(secrets)(str(user_traceback))
    if isinstance(exc, SyncStudioError) and not isinstance(exc, CodeError):
        return _error_text(exc, secrets)
    return format_user_traceback(exc, secrets)


def _record_failure(ctx: WorkerContext, job: lifecycle.StartedJob, project: ProjectRuntime,
                    exc: BaseException, delay: float | None,
                    now: dt.datetime | None) -> Outcome:
    """Fail the job, or put it back to pending for another try after ``delay`` seconds."""
    now = now or utcnow()
    error = _error_text(exc, project.secrets)
    traceback = _traceback(exc, project.secrets)
    retryable = isinstance(exc, RetryableJobError)
    with ctx.db.session() as session:
        if retryable:
            jobs.insert_log(session, job, cut_line(f"{error} (try {job.attempts})",
                                                   ctx.settings.log_line_max_chars),
                            level="warning", now=now)
        if delay is None:
            if retryable and job.attempts > 1:
                error = f"gave up after {job.attempts} tries: {error}"
            else:
                jobs.insert_log(session, job, cut_line(error, ctx.settings.log_line_max_chars),
                                level="error", now=now)
            logger.info("job %s failed: %s", job.id, error)
            _record(job, lifecycle.fail, session, job.id, error=error, traceback=traceback,
                    now=now)
            return Outcome(JobState.FAILED, error=error)
        _record(job, lifecycle.postpone, session, job.id, delay=delay, error=error,
                traceback=traceback, now=now)
    if ctx.wake_dispatcher is not None:
        ctx.wake_dispatcher()
    return Outcome(JobState.PENDING, error=error)
