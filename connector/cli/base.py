"""The ``syncstudio`` command line: the composition root that wires connector, worker and webui.

Every command reads settings from ``SYNCSTUDIO_*`` variables. Errors Sync Studio raises on purpose
become a one-line message and exit status 1, never a traceback.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from sqlalchemy import select

from connector.errors import ConfigurationError, NotFoundError, SyncStudioError
from connector.jobstate import JobState
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
        return Settings.from_env(os.environ)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None


def ensure_home(settings: Settings) -> None:
    """Create the data directory, or say in one line why it cannot be used."""
    try:
        settings.home.mkdir(parents=True, exist_ok=True)
        probe = settings.home / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise ConfigurationError(
            f"SYNCSTUDIO_HOME={settings.home} cannot be used ({exc.strerror or exc}): point "
            "SYNCSTUDIO_HOME at a directory this user can write") from None


def open_db(settings: Settings) -> Database:
    """The own database, migrated when it is the embedded SQLite file.

    PostgreSQL is upgraded only by ``syncstudio db upgrade``, so that production schema changes
    are an operator's decision.
    """
    from connector.store import migrate

    ensure_home(settings)
    db = Database(settings.database_url)
    if settings.database_url.startswith("sqlite"):
        migrate.upgrade(db)
    elif not migrate.is_up_to_date(db):
        raise ConfigurationError("the own database is not up to date: run `syncstudio db upgrade`")
    return db


FIRST_USER_HINT = ("No dashboard user exists yet: create the first manager with "
                   "`syncstudio user add NAME --role manager`, then log in.")


def announce_first_run(db: Database) -> None:
    """Say how to create the first login when nobody can log in to the dashboard yet."""
    from sqlalchemy import func, select

    from connector.store.models import DashboardUser

    with db.session() as session:
        if not session.scalar(select(func.count()).select_from(DashboardUser)):
            click.echo(FIRST_USER_HINT)


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


def with_web_address(settings: Settings, host: str, port: int) -> Settings:
    """Settings whose base URL (used in webhook URLs) follows --host/--port, unless
    SYNCSTUDIO_BASE_URL names a public URL explicitly."""
    if settings.base_url_configured:
        return settings
    return dataclasses.replace(settings, web_host=host, web_port=port,
                               base_url=f"http://{host}:{port}")


def require_free_port(host: str, port: int, option: str = "--port") -> None:
    """Refuse to start when ``host:port`` cannot be listened on, before anything is set up.

    Port 0 asks the system for a free port and always passes.
    """
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # The server will set SO_REUSEADDR too: a port in TIME_WAIT is not "busy".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = ("is in use" if exc.errno == errno.EADDRINUSE
                      else f"cannot be used ({exc.strerror})")
            raise ConfigurationError(
                f"port {port} on {host} {reason}: stop what listens there or pass {option} "
                "with another port") from None


def stop_on_sigterm(service: Any) -> None:
    """SIGTERM (docker stop, systemd) stops the service cleanly, like Ctrl-C."""

    def handler(*_args: Any) -> None:
        service.request_stop()
        raise KeyboardInterrupt  # ends the web server's loop in the main thread too

    signal.signal(signal.SIGTERM, handler)


def web_app(settings: Settings, database: Database | None = None,
            wake_dispatcher: Callable[[], None] | None = None) -> Any:
    """The Flask app of a web process; ``wake_dispatcher`` is the dispatcher of the same
    process (``syncstudio run``), woken when a request records a job ("Run now")."""
    from webui import create_app

    app = create_app({"SETTINGS": settings, **({"DATABASE": database} if database else {})})
    app.extensions["syncstudio.worker"].wake_dispatcher = wake_dispatcher
    if settings.isolation:
        # Webhook handlers are short: sandbox processes beyond a couple per web process
        # only compete for the cores (workers size theirs to their threads instead).
        from worker.runtime.isolation import configure_sandboxes

        configure_sandboxes(settings).resize(settings.web_sandboxes)
    return app


def serve_web(settings: Settings, db: Database, host: str, port: int,
              processes: int = 1, wake_dispatcher: Callable[[], None] | None = None) -> None:
    """Serve the web app: in this process (waitress), or in ``processes`` forked ones."""
    from connector import installation

    if port:  # port 0 is only known once bound; such a process records nothing
        installation.record_base_url(db, settings)
    if processes > 1:
        # Several processes answer scrapes in turn: their counters must be pooled in files,
        # which prometheus_client decides when it is first imported, so before webui is.
        shared_metrics_dir()
    from webui.server import serve_gunicorn, serve_waitress

    if processes > 1:
        db.dispose()  # each worker process opens its own connections
        serve_gunicorn(functools.partial(web_app, settings), host, port,
                       processes, announce=click.echo, settings=settings)
    else:
        serve_waitress(web_app(settings, db, wake_dispatcher), host, port, announce=click.echo)


def shared_metrics_dir() -> str:
    """A fresh directory for prometheus_client's multiprocess mode, named in the environment
    (``PROMETHEUS_MULTIPROC_DIR``) for the processes forked from this one."""
    import atexit
    import shutil
    import tempfile

    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        path = tempfile.mkdtemp(prefix="syncstudio-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
        atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def broker_label(settings: Settings) -> str:
    from worker.broker import describe

    return describe(settings)


def db_label(settings: Settings) -> str:
    return settings.database_url.split("://", 1)[0] + "://" + \
        settings.database_url.rsplit("@", 1)[-1].split("://", 1)[-1]


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


def print_job(database: Database, job_id: int) -> None:
    from connector.store.models import Job, Log

    with database.session() as session:
        row = session.get(Job, job_id)
        assert row is not None
        click.echo(f"job {row.id}: {row.state} ({row.function}, try {row.attempts})")
        for line in session.scalars(select(Log).where(Log.job_id == job_id).order_by(Log.id)):
            click.echo(f"  {line.created_at:%H:%M:%S} {line.level.upper():8} {line.message}")
        if row.error:
            click.echo(f"  error: {row.error}")
    if row.state == JobState.FAILED:
        sys.exit(1)
