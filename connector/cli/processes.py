"""Commands that run Sync Studio's processes: run, web, worker, poller."""

from __future__ import annotations

import os

import click

from connector.cli.base import (
    announce_first_run,
    broker_label,
    db_label,
    load_settings,
    main,
    one_line_errors,
    open_db,
    require_free_port,
    serve_web,
    setup_logging,
    stop_on_sigterm,
    with_web_address,
)
from connector.errors import ConfigurationError


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
    if not no_web:
        require_free_port(host, port)
    setup_logging(settings)
    db = open_db(settings)
    service = Service(settings, db)
    stop_on_sigterm(service)
    service.start_worker()
    service.start_poller()
    click.echo(f"Sync Studio running: broker {broker_label(settings)}, database "
               f"{db_label(settings)}, poll every {settings.poll_interval:g}s")
    if no_web:
        service.wait()
    else:
        announce_first_run(db)
        serve_web(settings, db, host, port, wake_dispatcher=service.dispatcher.wake)
    service.stop()


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
    require_free_port(host, port)
    db = open_db(settings)
    announce_first_run(db)
    serve_web(settings, db, host, port, count)


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
    from worker.broker import quiet_reconnects

    quiet_reconnects()
    service = Service(settings, open_db(settings))
    stop_on_sigterm(service)
    service.start_worker(threads)
    click.echo(f"worker consuming from {broker_label(settings)}")
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
    click.echo(f"poller running every {settings.poll_interval:g}s, broker {broker_label(settings)}")
    service.wait()
    service.stop()
