"""Running one job: load it by id, run its handler through the task runtime, record the outcome.

Whatever the task code does, this function returns normally: a broken task fails its job, it
never crashes the worker. Log lines are written as they come, each in its own short transaction,
so they survive the job's failure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from connector import jobs
from connector.connections import ClientPool, connection_params
from connector.errors import CodeError, SyncStudioError
from connector.links import LinkApiFactory
from connector.settings import Settings
from connector.store.crypto import SecretBox
from connector.store.db import Database
from connector.store.models import Job, Project, Task, Trigger, utcnow
from worker.retries import retry_delay
from worker.runtime import (
    Limits,
    RetryableJobError,
    format_user_traceback,
    mask_secrets,
    run_handler,
    run_isolated,
)

logger = logging.getLogger("syncstudio.worker")

WARNING_LEVELS = ("warning", "error", "critical")


class JobLimitError(SyncStudioError):
    """Raised when a job adds more sub-jobs than ``SYNCSTUDIO_JOB_MAX_SUBJOBS`` allows."""


@dataclasses.dataclass
class WorkerContext:
    """What a worker needs to run jobs: settings, the own database, secrets and Odoo clients."""

    settings: Settings
    db: Database
    box: SecretBox
    pool: ClientPool
    wake_dispatcher: Callable[[], None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, db: Database | None = None) -> WorkerContext:
        """Build a context from settings, creating the database handle when none is given."""
        box = SecretBox.from_settings(settings)
        return cls(settings=settings, db=db or Database(settings.database_url), box=box,
                   pool=ClientPool(box))


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a run ended: the job's new state, the handler's return value, the error text."""

    state: str
    result: Any = None
    error: str | None = None


@dataclasses.dataclass
class _JobInput:
    """Everything read from the own database before the handler runs (no session held open)."""

    job_id: int
    project_id: int
    task_id: int | None
    trigger_id: int | None
    function: str
    args: list[Any]
    kwargs: dict[str, Any]
    attempts: int
    max_retries: int | None
    user: str | None
    project: Project
    task: Task
    trigger: Trigger | None
    params: dict[str, str]
    secrets: dict[str, str]
    webhooks: dict[str, str]


def _load(ctx: WorkerContext, job_id: int) -> _JobInput | None:
    with ctx.db.session() as session:
        job = jobs.start(session, job_id)
        if job is None:
            return None
        task = session.get(Task, job.task_id) if job.task_id else None
        project = session.get(Project, job.project_id)
        if task is None or project is None:
            jobs.fail(session, job, error="the task or project of this job no longer exists")
            return None
        trigger = session.get(Trigger, job.trigger_id) if job.trigger_id else None
        params = {p.key: p.value for p in project.params}
        secrets = {s.key: ctx.box.decrypt(s.value_enc) for s in project.secrets if s.value_enc}
        base = ctx.settings.base_url.rstrip("/")
        webhooks = {t.trigger_name: f"{base}/webhooks/{t.token}"
                    for t in session.query(Trigger).filter_by(project_id=project.id,
                                                              kind="webhook")}
        _ = project.connection  # load it now: it is used after the session closes
        return _JobInput(job_id=job.id, project_id=job.project_id, task_id=job.task_id,
                         trigger_id=job.trigger_id, function=job.function, args=job.args,
                         kwargs=job.kwargs, attempts=job.attempts, max_retries=job.max_retries,
                         user=job.user, project=project, task=task, trigger=trigger,
                         params=params, secrets=secrets, webhooks=webhooks)


def execute(ctx: WorkerContext, job_id: int, *, call_args: tuple[Any, ...] | None = None,
            now: dt.datetime | None = None) -> Outcome | None:
    """Run job ``job_id`` once; None when it was not runnable (finished already, or gone).

    ``call_args`` replaces the stored arguments: a webhook's request object is handed to the
    handler directly instead of being stored in the job row.
    """
    data = _load(ctx, job_id)
    if data is None:
        return None
    levels: list[str] = []
    added: list[int] = []

    def log(message: Any, level: str = "info", type: str = "server") -> None:
        level = str(level).lower()
        levels.append(level)
        with ctx.db.session() as session:
            job = session.get(Job, data.job_id)
            jobs.add_log(session, job, str(message), level=level, type=type)

    def log_transmission(recipient: Any, payload: Any) -> None:
        log(f"{recipient}: {payload}", "info", "data_out")

    def add_job(func_name: str, priority: int = 10, eta: Any = None,
                max_retries: int | None = None, description: str | None = None,
                identity_key: str | None = None) -> Callable[..., int | None]:
        def delay(*args: Any, **kwargs: Any) -> int | None:
            if len(added) >= ctx.settings.job_max_subjobs:
                raise JobLimitError(f"a job may add at most {ctx.settings.job_max_subjobs} "
                                    "sub-jobs (SYNCSTUDIO_JOB_MAX_SUBJOBS)")
            added.append(1)
            # queue_job's eta: seconds from now, a timedelta, or a (naive UTC) datetime.
            eta_value = eta
            if isinstance(eta, int | float):
                eta_value = utcnow() + dt.timedelta(seconds=eta)
            elif isinstance(eta, dt.timedelta):
                eta_value = utcnow() + eta
            with ctx.db.session() as session:
                child = jobs.record_job(
                    session, project_id=data.project_id, task_id=data.task_id,
                    trigger_id=data.trigger_id, function=func_name, args=args, kwargs=kwargs,
                    parent_id=data.job_id, priority=priority, eta=eta_value,
                    max_retries=max_retries, description=description,
                    identity_key=identity_key, user=data.user)
                return child.id if child is not None else None
        return delay

    outcome: Outcome
    try:
        result = _run(ctx, data, call_args, log, log_transmission, add_job)
    except RetryableJobError as exc:
        # A webhook's request is not stored, so it cannot be replayed: the caller must call again.
        state = (_failed(ctx, data, exc, now) if call_args is not None
                 else _retry_or_fail(ctx, data, exc, now))
        outcome = Outcome(state, error=_error_text(exc, data.secrets))
    except Exception as exc:  # task code may raise anything; it fails the job, not the worker
        outcome = Outcome(_failed(ctx, data, exc, now), error=_error_text(exc, data.secrets))
    else:
        with ctx.db.session() as session:
            job = session.get(Job, data.job_id)
            assert job is not None
            warnings = any(level in WARNING_LEVELS for level in levels)
            jobs.finish(session, job, result=result, warnings=warnings, now=now)
            outcome = Outcome(job.state, result=result)
    if ctx.wake_dispatcher is not None:
        ctx.wake_dispatcher()
    return outcome


def project_limits(settings: Settings, project: Project) -> Limits:
    """The sandbox limits of ``project``: its own overrides, else the settings'."""
    return Limits(cpu_seconds=project.job_cpu_seconds or settings.job_cpu_seconds,
                  memory_mb=project.job_memory_mb or settings.job_memory_mb,
                  wall_seconds=project.job_wall_seconds or settings.job_wall_seconds)


def no_client() -> None:
    """The Odoo client of a project without a connection (picklable for the sandbox process)."""
    return None


def _run(ctx: WorkerContext, data: _JobInput, call_args: tuple[Any, ...] | None,
         log: Callable[..., None], log_transmission: Callable[[Any, Any], None],
         add_job: Callable[..., Any]) -> Any:
    """Call the handler, in a sandbox process (the default) or in this process."""
    records = None
    args: tuple[Any, ...] = tuple(data.args) if call_args is None else call_args
    if data.function == "handle_db" and len(data.args) >= 2:
        records = (data.args[0], list(data.args[1]))
        args = ()
    common: dict[str, Any] = dict(
        protected_code=data.project.protected_code, common_code=data.project.common_code,
        task_code=data.task.code, handler=data.function, records=records, args=args,
        kwargs=data.kwargs, params=data.params, secrets=data.secrets, webhooks=data.webhooks,
        trigger_name=data.trigger.trigger_name if data.trigger else None, user=data.user,
        link_api=LinkApiFactory(ctx.db.url, data.project_id), add_job=add_job,
        allowlist=ctx.settings.import_allowlist, task_name=data.task.name,
        log=log, log_transmission=log_transmission)
    conn = data.project.connection
    if ctx.settings.isolation:
        connection: Any = connection_params(conn, ctx.box) if conn is not None else no_client
        limits = project_limits(ctx.settings, data.project)
        return run_isolated(connection=connection, limits=limits, **common)
    client = ctx.pool.get(conn) if conn is not None else None
    return run_handler(client=client, **common)


def _error_text(exc: BaseException, secrets: dict[str, str] | None = None) -> str:
    name = type(exc).__name__
    message = mask_secrets(str(exc), secrets) if secrets else str(exc)
    return f"{name}: {message}" if message else name


def _traceback(exc: BaseException, secrets: dict[str, str] | None = None) -> str:
    user_traceback = getattr(exc, "user_traceback", None)
    if user_traceback:
        return str(user_traceback)
    if isinstance(exc, SyncStudioError) and not isinstance(exc, CodeError):
        return _error_text(exc, secrets)
    return format_user_traceback(exc, secrets)


def _retry_or_fail(ctx: WorkerContext, data: _JobInput, exc: Exception,
                   now: dt.datetime | None) -> str:
    delay = retry_delay(data.attempts, ctx.settings.retry_delays, data.max_retries)
    with ctx.db.session() as session:
        job = session.get(Job, data.job_id)
        assert job is not None
        if delay is None:
            jobs.fail(session, job, error=f"gave up after {data.attempts} tries: "
                      f"{_error_text(exc, data.secrets)}",
                      traceback=_traceback(exc, data.secrets), now=now)
        else:
            jobs.postpone(session, job, delay=delay, error=_error_text(exc, data.secrets),
                          traceback=_traceback(exc, data.secrets), now=now)
        jobs.add_log(session, job, f"{_error_text(exc, data.secrets)} (try {data.attempts})",
                     level="warning")
        return job.state


def _failed(ctx: WorkerContext, data: _JobInput, exc: Exception, now: dt.datetime | None) -> str:
    error = _error_text(exc, data.secrets)
    logger.info("job %s failed: %s", data.job_id, error)
    with ctx.db.session() as session:
        job = session.get(Job, data.job_id)
        assert job is not None
        jobs.fail(session, job, error=error, traceback=_traceback(exc, data.secrets), now=now)
        jobs.add_log(session, job, error, level="error")
        return job.state

