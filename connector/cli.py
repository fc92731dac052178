"""The ``syncstudio`` command line: the composition root that wires connector, worker and webui.

Every command reads settings from ``SYNCSTUDIO_*`` variables. Errors Sync Studio raises on purpose
become a one-line message and exit status 1, never a traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import click
from sqlalchemy import select

from connector.errors import ConfigurationError, NotFoundError, SyncStudioError
from connector.settings import Settings
from connector.store.db import Database

F = TypeVar("F", bound=Callable[..., Any])


def one_line_errors(func: F) -> F:
    """Turn Sync Studio's own errors into ``Error: <one line>`` and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SyncStudioError as exc:
            raise click.ClickException(str(exc).splitlines()[0] if str(exc) else
                                       type(exc).__name__) from None

    return wrapper  # type: ignore[return-value]


def load_settings() -> Settings:
    """Settings from the environment (a bad variable becomes a one-line error)."""
    try:
        return Settings.from_env()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None


def open_db(settings: Settings) -> Database:
    """The own database, migrated when it is the embedded SQLite file.

    PostgreSQL is upgraded only by ``syncstudio db upgrade``, so that production schema changes
    are an operator's decision.
    """
    from connector.store import migrate

    db = Database(settings.database_url)
    if settings.database_url.startswith("sqlite"):
        migrate.upgrade(db)
    elif not migrate.is_up_to_date(db):
        raise ConfigurationError("the own database is not up to date: run `syncstudio db upgrade`")
    return db


def setup_logging(settings: Settings) -> None:
    """Plain log lines on stderr at the configured level."""
    logging.basicConfig(level=settings.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Alembic narrates every plugin and migration at INFO; an upgrade is worth one line at most.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="syncstudio")
def main() -> None:
    """Sync Studio: integrations for Odoo that run outside Odoo.

    Settings come from SYNCSTUDIO_* environment variables (see the README).
    """


# --------------------------------------------------------------------------- processes
@main.command()
@click.option("--host", envvar="SYNCSTUDIO_WEB_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="SYNCSTUDIO_WEB_PORT", default=8000, show_default=True, type=int)
@click.option("--no-web", is_flag=True, help="Run poller and workers only.")
@one_line_errors
def run(host: str, port: int, no_web: bool) -> None:
    """Everything in one process: web, poller, dispatcher and workers."""
    from worker.service import Service

    settings = with_web_address(load_settings(), host, port)
    setup_logging(settings)
    db = open_db(settings)
    service = Service(settings, db)
    _stop_on_sigterm(service)
    service.start_worker()
    service.start_poller()
    click.echo(f"Sync Studio running: broker {_broker(settings)}, database "
               f"{_db_label(settings)}, poll every {settings.poll_interval:g}s")
    if no_web:
        service.wait()
    else:
        _serve_web(settings, db, host, port)
    service.stop()


def with_web_address(settings: Settings, host: str, port: int) -> Settings:
    """Settings whose base URL (used in webhook URLs) follows --host/--port, unless
    SYNCSTUDIO_BASE_URL names a public URL explicitly."""
    if os.environ.get("SYNCSTUDIO_BASE_URL"):
        return settings
    return dataclasses.replace(settings, web_host=host, web_port=port,
                               base_url=f"http://{host}:{port}")


def _stop_on_sigterm(service: Any) -> None:
    """SIGTERM (docker stop, systemd) stops the service cleanly, like Ctrl-C."""

    def handler(*_args: Any) -> None:
        service.request_stop()
        raise KeyboardInterrupt  # ends the web server's loop in the main thread too

    signal.signal(signal.SIGTERM, handler)


def _serve_web(settings: Settings, db: Database, host: str, port: int,
               processes: int = 1) -> None:
    from webui import create_app
    from webui.server import serve_gunicorn, serve_waitress

    def web_app(database: Database | None = None) -> Any:
        app = create_app({"SETTINGS": settings, **({"DATABASE": database} if database else {})})
        if settings.isolation:
            # Webhook handlers are short: sandbox processes beyond a couple per web process
            # only compete for the cores (workers size theirs to their threads instead).
            from worker.runtime.pool import default_pool

            default_pool().resize(settings.web_sandboxes)
        return app

    if processes > 1:
        db.dispose()  # each worker process opens its own connections
        serve_gunicorn(web_app, host, port, processes, announce=click.echo)
    else:
        serve_waitress(web_app(db), host, port, announce=click.echo)


def _broker(settings: Settings) -> str:
    from worker.broker import describe

    return describe(settings)


def _db_label(settings: Settings) -> str:
    return settings.database_url.split("://", 1)[0] + "://" + \
        settings.database_url.rsplit("@", 1)[-1].split("://", 1)[-1]


@main.command()
@click.option("--host", envvar="SYNCSTUDIO_WEB_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="SYNCSTUDIO_WEB_PORT", default=8000, show_default=True, type=int)
@click.option("--processes", envvar="SYNCSTUDIO_WEB_PROCESSES", type=int, default=None,
              help="Worker processes (default: the number of CPUs; 1 serves in-process).")
@one_line_errors
def web(host: str, port: int, processes: int | None) -> None:
    """The web process: dashboard, webhook relay, health and metrics."""
    settings = with_web_address(load_settings(), host, port)
    setup_logging(settings)
    count = processes if processes is not None else (os.cpu_count() or 1)
    if count < 1:
        raise ConfigurationError("--processes must be 1 or more")
    _serve_web(settings, open_db(settings), host, port, count)


@main.command()
@click.option("--threads", type=int, default=None,
              help="Worker threads (default SYNCSTUDIO_WORKER_THREADS).")
@one_line_errors
def worker(threads: int | None) -> None:
    """A Dramatiq worker process consuming jobs from the broker."""
    from worker.service import Service

    settings = load_settings()
    setup_logging(settings)
    if settings.in_process:
        raise ConfigurationError("`syncstudio worker` needs SYNCSTUDIO_BROKER_URL (redis:// or "
                                 "amqp://); without a broker use `syncstudio run`")
    service = Service(settings, open_db(settings))
    _stop_on_sigterm(service)
    service.start_worker(threads)
    click.echo(f"worker consuming from {_broker(settings)}")
    service.wait()
    service.stop()


@main.command()
@click.option("--once", is_flag=True, help="Poll each watched model once, dispatch, and exit.")
@one_line_errors
def poller(once: bool) -> None:
    """The poller process: change detection, the job dispatcher and the lost-message reconciler."""
    from worker.service import Service

    settings = load_settings()
    setup_logging(settings)
    service = Service(settings, open_db(settings))
    if once:
        report = service.poller.run_once()
        sent = service.dispatcher.run_once()
        click.echo(f"polled {report.models} model(s), recorded {report.jobs} job(s), "
                   f"sent {sent}" + (f"; errors: {'; '.join(report.errors)}"
                                     if report.errors else ""))
        return
    if settings.in_process:
        # Without a broker the queue lives in this process, so the workers must too.
        service.start_worker()
    service.start_poller()
    click.echo(f"poller running every {settings.poll_interval:g}s, broker {_broker(settings)}")
    service.wait()
    service.stop()


# --------------------------------------------------------------------------- database
@main.group()
def db() -> None:
    """The own database."""


@db.command("upgrade")
@one_line_errors
def db_upgrade() -> None:
    """Apply the Alembic migrations to SYNCSTUDIO_DATABASE_URL."""
    from connector.store import migrate

    settings = load_settings()
    database = Database(settings.database_url)
    migrate.upgrade(database)
    click.echo(f"database at revision {migrate.current_revision(database)}")


# --------------------------------------------------------------------------- users
@main.group()
def user() -> None:
    """Dashboard users."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["manager", "developer", "user"]), default="user",
              show_default=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              envvar="SYNCSTUDIO_NEW_USER_PASSWORD", help="Asked for when not given.")
@one_line_errors
def user_add(name: str, role: str, password: str) -> None:
    """Add a dashboard user (or change an existing user's role and password)."""
    from werkzeug.security import generate_password_hash

    from connector.store.models import DashboardUser

    if len(password) < 8:
        raise ConfigurationError("the password must have at least 8 characters")
    settings = load_settings()
    with open_db(settings).session() as session:
        row = session.scalar(select(DashboardUser).where(DashboardUser.login == name))
        if row is None:
            row = DashboardUser(login=name)
            session.add(row)
        row.role = role
        row.password_hash = generate_password_hash(password)
    click.echo(f"user {name} ({role}) saved")


# --------------------------------------------------------------------------- projects
@main.group()
def project() -> None:
    """Projects as YAML files."""


def find_project(session: Any, name: str) -> Any:
    """The project called ``name``, or a NotFoundError naming it."""
    from connector.store.models import Project

    project = session.scalar(select(Project).where(Project.name == name))
    if project is None:
        raise NotFoundError(f"no project named {name!r}")
    return project


def find_trigger(session: Any, project_name: str, trigger_name: str) -> Any:
    """Trigger ``trigger_name`` of project ``project_name``, or a NotFoundError naming both."""
    from connector.store.models import Trigger

    project = find_project(session, project_name)
    found = session.scalar(select(Trigger).where(Trigger.project_id == project.id,
                                                 Trigger.trigger_name == trigger_name))
    if found is None:
        raise NotFoundError(f"project {project_name!r} has no trigger {trigger_name!r}")
    return found


def probe_connection(params: dict[str, Any]) -> dict[str, Any]:
    """Log in with connection ``params`` and return the server version and user."""
    from connector.odoo import make_client

    client = make_client(**params)
    try:
        return client.test_connection()
    finally:
        client.close()


def code_check(source: str, where: str, require_handler: bool) -> None:
    """The sandbox policy's save-time check, as the saving layer passes it to the core."""
    from worker.runtime import check_code

    check_code(source, where=where, require_handler=require_handler,
               allowlist=load_settings().import_allowlist)


@project.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--check/--no-check", default=True, show_default=True,
              help="Log in to the project's Odoo before saving; refuse the file if that fails.")
@one_line_errors
def project_import(file: str, check: bool) -> None:
    """Create or update a project from a YAML FILE."""
    from connector.connections import connection_params
    from connector.projects import ProjectImporter, load_file
    from connector.store.crypto import SecretBox

    data = load_file(file)
    settings = load_settings()
    box = SecretBox.from_settings(settings)
    with open_db(settings).session() as session:
        proj = ProjectImporter(session, box, check_code=code_check).import_data(data)
        tasks = len(proj.tasks)
        triggers = sum(len(t.triggers) for t in proj.tasks)
        name = proj.name
        if check and proj.connection is not None:
            # Inside the transaction: a wrong password or an unreachable Odoo saves nothing.
            info = probe_connection(connection_params(proj.connection, box))
    click.echo(f"project {name!r} imported: {tasks} task(s), {triggers} trigger(s)")
    if check and data.get("odoo"):
        click.echo(f"Odoo {info.get('server_version')} reached as {info.get('user')}")


@main.group()
def connection() -> None:
    """Odoo connections."""


@connection.command("test")
@click.argument("project_name", metavar="PROJECT")
@one_line_errors
def connection_test(project_name: str) -> None:
    """Log in to the Odoo of PROJECT and print the server version and the user."""
    from connector.connections import connection_params
    from connector.store.crypto import SecretBox

    settings = load_settings()
    box = SecretBox.from_settings(settings)
    with open_db(settings).session() as session:
        proj = find_project(session, project_name)
        if proj.connection is None:
            raise ConfigurationError(f"project {project_name!r} has no Odoo connection")
        params = connection_params(proj.connection, box)
    info = probe_connection(params)
    click.echo(f"OK: Odoo {info.get('server_version')} at {params['url']}, database "
               f"{params['database']}, user {info.get('user')} (uid {info.get('uid')})")


@project.command("export")
@click.argument("name")
@click.option("-o", "--output", type=click.File("w"), default="-", help="File (default stdout).")
@one_line_errors
def project_export(name: str, output: Any) -> None:
    """Write project NAME as YAML (secret names only, never values)."""
    from connector.projects import dump_yaml, export_project

    settings = load_settings()
    with open_db(settings).session() as session:
        proj = find_project(session, name)
        output.write(dump_yaml(export_project(proj)))


@main.group()
def secret() -> None:
    """Project secrets (values are encrypted at rest)."""


@secret.command("set")
@click.argument("project_name", metavar="PROJECT")
@click.argument("name")
@one_line_errors
def secret_set(project_name: str, name: str) -> None:
    """Set secret NAME of PROJECT to the value read from standard input."""
    from connector.store.crypto import SecretBox
    from connector.store.models import ProjectSecret

    value = sys.stdin.read().rstrip("\n")
    if not value:
        raise ConfigurationError("no value on standard input (pipe it in: "
                                 "`printf %s \"$VALUE\" | syncstudio secret set P NAME`)")
    settings = load_settings()
    box = SecretBox.from_settings(settings)
    with open_db(settings).session() as session:
        proj = find_project(session, project_name)
        row = next((s for s in proj.secrets if s.key == name), None)
        if row is None:
            row = ProjectSecret(key=name)
            proj.secrets.append(row)
        row.value_enc = box.encrypt(value)
    click.echo(f"secret {name} of {project_name!r} set")


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
    from connector import jobs
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
        job = jobs.record_trigger_job(session, trig, args=args, user="cli")
        job.state = "enqueued"  # it runs right here: a running dispatcher must not send it too
        job_id = job.id
    ctx = WorkerContext.from_settings(settings, database)
    execute(ctx, job_id)
    ctx.pool.close()
    _print_job(database, job_id)


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
    from connector import jobs

    settings = load_settings()
    with open_db(settings).session() as session:
        jobs.retry(session, job_id)
    click.echo(f"job {job_id} queued again")


def _print_job(database: Database, job_id: int) -> None:
    from connector.store.models import Job, Log

    with database.session() as session:
        row = session.get(Job, job_id)
        assert row is not None
        click.echo(f"job {row.id}: {row.state} ({row.function}, try {row.attempts})")
        for line in session.scalars(select(Log).where(Log.job_id == job_id).order_by(Log.id)):
            click.echo(f"  {line.created_at:%H:%M:%S} {line.level.upper():8} {line.message}")
        if row.error:
            click.echo(f"  error: {row.error}")
    if row.state == "failed":
        sys.exit(1)


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
        query = query.where(Job.state == "failed")
    elif status == "success":
        query = query.where(Job.state.in_(("done", "done_warnings")))
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
    for line, proj, task_, trig in reversed(rows):
        click.echo(f"{line.created_at:%Y-%m-%d %H:%M:%S} {line.level.upper():8} "
                   f"[{proj or '-'}/{task_ or '-'}/{trig or '-'} job {line.job_id}] "
                   f"{line.message}")


# --------------------------------------------------------------------------- simulator, demo
@main.command("odoo-sim")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8069, show_default=True, type=int)
@click.option("--database", default="odootest", show_default=True)
@click.option("--auditlog/--no-auditlog", default=False, help="Install the OCA auditlog models.")
@click.option("--path", default=None, help="SQLite file of the simulator (default: temporary).")
@one_line_errors
def odoo_sim(host: str, port: int, database: str, auditlog: bool, path: str | None) -> None:
    """Run the built-in Odoo 17 RPC simulator (admin/admin) for tests and demos."""
    from connector.simulator import OdooSimulator

    sim = OdooSimulator(database=database, path=path, auditlog=auditlog, demo=True)
    sim.start(host=host, port=port)
    click.echo(f"Odoo simulator at {sim.url} database {database!r}, login admin/admin")
    stop = threading.Event()
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    sim.stop()


@main.command()
@click.option("--host", envvar="SYNCSTUDIO_WEB_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="SYNCSTUDIO_WEB_PORT", default=8000, show_default=True, type=int)
@one_line_errors
def demo(host: str, port: int) -> None:
    """The whole service with two built-in Odoo simulators and the seeds' two demo projects.

    Starts an Odoo 17 simulator with demo data (the project's Odoo) and a second one (the
    external Odoo of "Odoo2odoo"), imports "Demo Telegram support" and "Demo Odoo2odoo", then
    runs web, poller and workers in this process. Needs no external service.
    """
    import secrets as pysecrets

    from werkzeug.security import generate_password_hash

    from connector.demo import PROJECTS, project_text
    from connector.projects import ProjectImporter, parse
    from connector.simulator import OdooSimulator
    from connector.store.crypto import SecretBox
    from connector.store.models import DashboardUser, Trigger
    from worker.service import Service

    settings = with_web_address(load_settings(), host, port)
    setup_logging(settings)
    odoo = OdooSimulator(database="demo", demo=True).start(host="127.0.0.1", port=0)
    remote = OdooSimulator(database="remote", demo=True).start(host="127.0.0.1", port=0)
    db = open_db(settings)
    box = SecretBox.from_settings(settings)
    values = {"ODOO_URL": odoo.url, "ODOO_DB": odoo.database, "REMOTE_URL": remote.url,
              "REMOTE_DB": remote.database}
    environ = {"SYNCSTUDIO_DEMO_ODOO_PASSWORD": "admin", "SYNCSTUDIO_DEMO_REMOTE_LOGIN": "admin",
               "SYNCSTUDIO_DEMO_REMOTE_PASSWORD": "admin"}
    password = pysecrets.token_urlsafe(9)
    with db.session() as session:
        for name in PROJECTS:
            ProjectImporter(session, box, check_code=code_check, environ=environ).import_data(
                parse(project_text(name, values), source=name))
        user = session.scalar(select(DashboardUser).where(DashboardUser.login == "admin"))
        if user is None:
            user = DashboardUser(login="admin", role="manager")
            session.add(user)
        user.password_hash = generate_password_hash(password)
        hooks = {t.trigger_name: t.token for t in session.scalars(
            select(Trigger).where(Trigger.kind == "webhook"))}
    service = Service(settings, db)
    _stop_on_sigterm(service)
    service.start_worker()
    service.start_poller()
    base = f"http://{host}:{port}"
    click.echo(f"Odoo (simulator): {odoo.url} database {odoo.database!r}, login admin/admin")
    click.echo(f"External Odoo of Odoo2odoo (simulator): {remote.url} database "
               f"{remote.database!r}, login admin/admin")
    click.echo(f"Telegram webhook: {base}/webhooks/{hooks.get('TELEGRAM_UPDATE')}")
    click.echo(f"Login: admin / {password} (manager)")
    try:
        _serve_web(settings, db, host, port)
    finally:
        service.stop()
        remote.stop()
        odoo.stop()


if __name__ == "__main__":  # pragma: no cover
    main()
