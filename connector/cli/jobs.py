"""Commands about triggers, jobs and execution logs."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click
from sqlalchemy import select

from connector.cli.base import (
    find_project,
    find_trigger,
    load_settings,
    main,
    one_line_errors,
    open_db,
    print_job,
)
from connector.errors import ConfigurationError


# --------------------------------------------------------------------------- jobs
@main.group()
def trigger() -> None:
    """Triggers."""


@trigger.command("run")
@click.argument("project_name", metavar="PROJECT")
@click.argument("trigger_name")
@click.option("--data", default=None, help="JSON passed to handle_button(data).")
@one_line_errors
def trigger_run(project_name: str, trigger_name: str, data: str | None) -> None:
    """Run a button or cron trigger now, in this process, and print its job and logs."""
    from connector import jobs, lifecycle
    from worker.executor import WorkerContext, execute

    settings = load_settings()
    database = open_db(settings)
    payload: Any = None
    if data is not None:
        try:
            payload = json.loads(data)
        except ValueError as exc:
            raise ConfigurationError(f"--data is not valid JSON: {exc}") from None
    with database.session() as session:
        trig = find_trigger(session, project_name, trigger_name)
        if trig.kind not in ("button", "cron"):
            raise ConfigurationError(f"{trigger_name} is a {trig.kind} trigger; only button and "
                                     "cron triggers can be run by hand")
        args = []
        if trig.kind == "button":
            button_data = payload if payload is not None else trig.data
            args = [button_data] if button_data is not None else []
        job_id = jobs.record_trigger_job(session, trig, args=args, user="cli").id
        lifecycle.claim(session, [job_id])  # it runs right here: a dispatcher must not send it
    if settings.isolation:
        from worker.runtime.isolation import configure_sandboxes

        configure_sandboxes(settings)
    ctx = WorkerContext.from_settings(settings, database)
    execute(ctx, job_id)
    ctx.pool.close()
    print_job(database, job_id)


@trigger.command("list")
@click.option("--project", "project_name", default=None, help="Only this project's triggers.")
@one_line_errors
def trigger_list(project_name: str | None) -> None:
    """List triggers with their kind and, for DB triggers, what the poller last found."""
    from sqlalchemy import select

    from connector.store.models import Project, Trigger

    settings = load_settings()
    with open_db(settings).session() as session:
        query = (select(Project.name, Trigger).join(Project, Trigger.project_id == Project.id)
                 .order_by(Project.name, Trigger.kind, Trigger.trigger_name))
        if project_name is not None:
            query = query.where(Project.id == find_project(session, project_name).id)
        rows = session.execute(query).all()
        if not rows:
            click.echo("no triggers")
        for project, trig in rows:
            state = "" if trig.kind != "db" else f"  {trig.poll_state or 'not polled yet'}"
            if trig.kind == "db" and trig.poll_error:
                state += f": {trig.poll_error}"
            active = "" if trig.active else "  (inactive)"
            click.echo(f"{project}  {trig.kind:<7} {trig.trigger_name}{active}{state}")


@trigger.command("snapshot")
@click.argument("project_name", metavar="PROJECT")
@click.argument("trigger_name")
@one_line_errors
def trigger_snapshot(project_name: str, trigger_name: str) -> None:
    """Build (or rebuild) the snapshot of the values a DB trigger compares, with progress.

    The poller builds it by itself when a trigger is activated; this command does it ahead of
    time, e.g. for a model with many records.
    """
    from connector.connections import ClientPool
    from connector.detection.poller import build_snapshots
    from connector.store.crypto import SecretBox

    settings = load_settings()
    database = open_db(settings)
    with database.session() as session:
        trig = find_trigger(session, project_name, trigger_name)
        if trig.kind != "db":
            raise ConfigurationError(f"{trigger_name} is a {trig.kind} trigger; only DB "
                                     "triggers have snapshots")
    pool = ClientPool(SecretBox.from_settings(settings))

    def progress(done: int, total: int) -> None:
        click.echo(f"\rsnapshot of {trig.model}: {done}/{total} records", nl=False)

    try:
        built = build_snapshots(database, pool, trig, progress=progress,
                                batch_size=settings.batch_size, lookback=settings.lookback)
    finally:
        pool.close()
    click.echo("")
    if not built:
        raise ConfigurationError("a running poller holds this model's lease and builds the "
                                 "snapshot itself; try again when it is done")
    click.echo(f"snapshot of {trig.model} for {trigger_name} built")


@main.group()
def job() -> None:
    """Jobs."""


@job.command("retry")
@click.argument("job_id", type=int)
@one_line_errors
def job_retry(job_id: int) -> None:
    """Queue failed job JOB_ID again (the poller's dispatcher sends it)."""
    from connector import lifecycle

    settings = load_settings()
    with open_db(settings).session() as session:
        lifecycle.retry(session, job_id)
    click.echo(f"job {job_id} queued again")




@main.command()
@click.option("--project", "project_name", default=None)
@click.option("--task", "task_name", default=None)
@click.option("--trigger", "trigger_name", default=None)
@click.option("--level", type=click.Choice(["debug", "info", "warning", "error", "critical"]))
@click.option("--status", type=click.Choice(["success", "fail"]))
@click.option("--since", default=None, help="Jobs started at or after this ISO time (UTC).")
@click.option("--until", default=None, help="Jobs started before this ISO time (UTC).")
@click.option("--limit", default=200, show_default=True, type=int)
@one_line_errors
def logs(project_name: str | None, task_name: str | None, trigger_name: str | None,
         level: str | None, status: str | None, since: str | None, until: str | None,
         limit: int) -> None:
    """Print execution logs, newest last, filtered like the dashboard's."""
    from connector.jobstate import SUCCEEDED, JobState
    from connector.store.models import Job, Log, Project, Task, Trigger

    query = select(Log, Project.name, Task.name, Trigger.trigger_name).outerjoin(
        Project, Log.project_id == Project.id).outerjoin(Task, Log.task_id == Task.id).outerjoin(
        Trigger, Log.trigger_id == Trigger.id).outerjoin(Job, Log.job_id == Job.id)
    if project_name:
        query = query.where(Project.name == project_name)
    if task_name:
        query = query.where(Task.name == task_name)
    if trigger_name:
        query = query.where(Trigger.trigger_name == trigger_name)
    if level:
        query = query.where(Log.level == level)
    if status == "fail":
        query = query.where(Job.state == JobState.FAILED)
    elif status == "success":
        query = query.where(Job.state.in_(SUCCEEDED))
    for option, value, compare in (("--since", since, Job.started_at.__ge__),
                                   ("--until", until, Job.started_at.__lt__)):
        if value:
            try:
                query = query.where(compare(dt.datetime.fromisoformat(value)))
            except ValueError:
                raise ConfigurationError(f"{option} {value!r} is not an ISO date/time") from None
    settings = load_settings()
    with open_db(settings).session() as session:
        rows = list(session.execute(query.order_by(Log.id.desc()).limit(limit)))
        maskers = _maskers(session, settings, {line.project_id for line, *_ in rows})
    for line, proj, task_, trig in reversed(rows):
        # Lines are masked when written; masked again here for lines written before a secret
        # was set or changed.
        message = maskers.get(line.project_id, str)(line.message)
        click.echo(f"{line.created_at:%Y-%m-%d %H:%M:%S} {line.level.upper():8} "
                   f"[{proj or '-'}/{task_ or '-'}/{trig or '-'} job {line.job_id}] "
                   f"{message}")


def _maskers(session: Any, settings: Any, project_ids: set[Any]) -> dict[Any, Any]:
    """A secret masker per project of ``project_ids``."""
    from connector.masking import masker
    from connector.store.crypto import SecretBox
    from connector.store.models import ProjectSecret

    if not project_ids:
        return {}
    box = SecretBox.from_settings(settings)
    values: dict[Any, list[str]] = {}
    for project_id, value_enc in session.execute(
            select(ProjectSecret.project_id, ProjectSecret.value_enc)
            .where(ProjectSecret.project_id.in_(project_ids))):
        if value_enc:
            values.setdefault(project_id, []).append(box.decrypt(value_enc))
    return {project_id: masker(secrets) for project_id, secrets in values.items()}
